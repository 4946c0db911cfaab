using Microsoft.AspNetCore.DataProtection.KeyManagement;

namespace Loyalty.ShopifyApp.Infrastructure.Security;

public static class SecurityExtensions
{
    /// <summary>Data Protection with a key ring shared through PostgreSQL; all instances use one application name.</summary>
    public static IHostApplicationBuilder AddLoyaltyDataProtection(this IHostApplicationBuilder builder)
    {
        builder.Services.AddDataProtection().SetApplicationName("Loyalty.ShopifyApp");
        builder.Services.AddSingleton<IConfigureOptions<KeyManagementOptions>>(sp =>
            new ConfigureOptions<KeyManagementOptions>(o => o.XmlRepository = new PostgresXmlRepository(sp.GetRequiredService<NpgsqlDataSource>())));
        return builder;
    }
}
