using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace Loyalty.ShopifyApp.Infrastructure.Security;

/// <summary>
/// Keeps the ASP.NET Core Data Protection key ring in PostgreSQL so that every instance encrypts and
/// decrypts shop tokens (and OAuth state cookies) with the same keys. The interface is synchronous.
/// </summary>
public sealed class PostgresXmlRepository(NpgsqlDataSource dataSource) : IXmlRepository
{
    public IReadOnlyCollection<XElement> GetAllElements()
    {
        using var conn = dataSource.OpenConnection();
        return conn.Query<string>("SELECT xml FROM data_protection_keys ORDER BY id")
            .Select(x => XElement.Parse(x))
            .ToList();
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        using var conn = dataSource.OpenConnection();
        conn.Execute("""
            INSERT INTO data_protection_keys (friendly_name, xml) VALUES (@friendlyName, @xml)
            ON CONFLICT (friendly_name) DO NOTHING
            """, new { friendlyName, xml = element.ToString(SaveOptions.DisableFormatting) });
    }
}
