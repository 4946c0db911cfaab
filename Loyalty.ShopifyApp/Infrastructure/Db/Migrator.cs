using System.Reflection;
using System.Security.Cryptography;

namespace Loyalty.ShopifyApp.Infrastructure.Db;

/// <summary>
/// Applies the numbered, forward-only SQL files embedded from <c>Migrations/</c>. Every instance runs this
/// at start-up; a session-level advisory lock makes concurrent starts wait for each other, and each file
/// is applied in its own transaction together with its row in <c>schema_migrations</c>.
/// A landed migration must never be edited: the checksum check refuses to start on a mismatch.
/// </summary>
public sealed partial class Migrator(NpgsqlDataSource dataSource, ILogger<Migrator> logger)
{
    // Arbitrary constant shared by every instance of this app ("LOYALTY1" in ASCII).
    private const long MigrationLockKey = 0x4C4F59414C545931;

    public sealed record Migration(int Version, string Name, string Sql, string Checksum);

    public static IReadOnlyList<Migration> Embedded()
    {
        var assembly = typeof(Migrator).Assembly;
        return assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith("Migrations.", StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Select(n => Load(assembly, n))
            .OrderBy(m => m.Version)
            .ToList();
    }

    public async Task MigrateAsync(CancellationToken ct)
    {
        var migrations = Embedded();
        var duplicate = migrations.GroupBy(m => m.Version).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new InvalidOperationException($"Two migrations share version {duplicate.Key}.");

        await using var conn = await dataSource.OpenConnectionAsync(ct);
        try
        {
            // Inside the try: a wait cancelled just as the lock was granted is released below.
            await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_lock(@key)", new { key = MigrationLockKey }, cancellationToken: ct));
            await conn.ExecuteAsync(new CommandDefinition("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    int PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, cancellationToken: ct));

            var applied = (await conn.QueryAsync<(int Version, string Checksum)>(new CommandDefinition(
                "SELECT version, checksum FROM schema_migrations", cancellationToken: ct))).ToDictionary(r => r.Version, r => r.Checksum);

            foreach (var migration in migrations)
            {
                if (applied.TryGetValue(migration.Version, out var checksum))
                {
                    if (checksum != migration.Checksum)
                    {
                        throw new InvalidOperationException(
                            $"Migration {migration.Version} ({migration.Name}) was changed after it was applied; add a new migration instead.");
                    }
                    continue;
                }

                await using var tx = await conn.BeginTransactionAsync(ct);
                await conn.ExecuteAsync(new CommandDefinition(migration.Sql, transaction: tx, cancellationToken: ct, commandTimeout: 300));
                await conn.ExecuteAsync(new CommandDefinition(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (@Version, @Name, @Checksum)",
                    migration, tx, cancellationToken: ct));
                await tx.CommitAsync(ct);
                LogApplied(migration.Version, migration.Name);
            }
        }
        finally
        {
            // A session that broke (the database went away) took its lock with it; reopening here would only hide why it broke.
            await SessionLocks.ReleaseAllAsync(dataSource, conn);
        }
    }

    private static Migration Load(Assembly assembly, string resource)
    {
        var file = resource["Migrations.".Length..^".sql".Length];
        var separator = file.IndexOf('_');
        if (separator <= 0 || !int.TryParse(file[..separator], out var version))
        {
            throw new InvalidOperationException($"Migration file '{file}.sql' must be named NNNN_description.sql.");
        }
        using var stream = assembly.GetManifestResourceStream(resource)!;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var sql = reader.ReadToEnd().Replace("\r\n", "\n");
        var checksum = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql)));
        return new Migration(version, file[(separator + 1)..], sql, checksum);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied migration {Version} ({Name})")]
    private partial void LogApplied(int version, string name);
}
