using Loyalty.ShopifyApp.Sandbox;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Loyalty.ShopifyApp.Infrastructure.Db;

public static partial class DbExtensions
{
    /// <summary>
    /// Registers the <see cref="NpgsqlDataSource"/>. The connection comes from <c>ConnectionStrings:Loyalty</c>,
    /// else <c>DATABASE_URL</c>; with neither, and only in Development, the sandbox's private local PostgreSQL
    /// (<see cref="LocalDatabase"/>) so that <c>dotnet run</c> works on a fresh machine.
    /// </summary>
    public static IHostApplicationBuilder AddLoyaltyDb(this IHostApplicationBuilder builder)
    {
        Dapper.DefaultTypeMap.MatchNamesWithUnderscores = true;
        Dapper.SqlMapper.AddTypeHandler(new DateTimeOffsetHandler());

        // Resolved when first needed, so configuration added by hosts and tests after Program ran is honoured.
        // Npgsql's own logs (connection failures, errors it swallows) go through the app's logging.
        builder.Services.AddSingleton(sp => new ResolvedConnectionString(
            ResolveConnectionString(sp.GetRequiredService<IConfiguration>(), sp.GetRequiredService<IHostEnvironment>())));
        builder.Services.AddSingleton(sp => new NpgsqlDataSourceBuilder(MainPool(sp.GetRequiredService<ResolvedConnectionString>().Value,
                sp.GetRequiredService<IOptions<DatabaseOptions>>().Value))
            .UseLoggerFactory(sp.GetRequiredService<ILoggerFactory>())
            .Build());
        builder.Services.AddKeyedSingleton(KeyLookups, (sp, _) =>
                sp.GetRequiredService<IOptions<DatabaseOptions>>().Value is { KeyLookupsOwnPool: true } o
                    ? new NpgsqlDataSourceBuilder(KeyLookupPool(sp.GetRequiredService<ResolvedConnectionString>().Value, o))
                        .UseLoggerFactory(sp.GetRequiredService<ILoggerFactory>())
                        .Build()
                    : sp.GetRequiredService<NpgsqlDataSource>());
        builder.Services.AddSingleton<Migrator>();
        builder.Services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<DatabaseOptions>, DatabaseOptionsValidator>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddHostedService<MigrateOnStartup>();
        return builder;
    }

    /// <summary>
    /// The connection string with <see cref="DatabaseOptions"/>' statement preparation, plan mode and reset of a returned session,
    /// unless it sets its own.
    /// </summary>
    public static string WithSessionSettings(string connectionString, DatabaseOptions options)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        // Whether the string names it at all (0 included: how one turns preparation off for a pooler); NpgsqlConnectionStringBuilder's
        // own ContainsKey only says whether a keyword is known.
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        if (!given.ContainsKey("Max Auto Prepare") && !given.ContainsKey("MaxAutoPrepare")) builder.MaxAutoPrepare = options.AutoPrepareStatements;
        if (!given.ContainsKey("No Reset On Close") && !given.ContainsKey("NoResetOnClose"))
        {
            builder.NoResetOnClose = !options.ResetConnectionsOnClose;
        }
        if (options.ForceCustomPlans && builder.Options?.Contains("plan_cache_mode", StringComparison.Ordinal) != true)
        {
            builder.Options = ((builder.Options ?? "") + " -c plan_cache_mode=force_custom_plan").Trim();
        }
        return builder.ConnectionString;
    }

    /// <summary>The connection string as configured, resolved once for both pools.</summary>
    private sealed record ResolvedConnectionString(string Value);

    /// <summary>
    /// The key of the second <see cref="NpgsqlDataSource"/> (<c>[FromKeyedServices(DbExtensions.KeyLookups)]</c>), for statements that
    /// find one row by its primary key and touch no other table: planned once per connection as an index scan, which stays the right
    /// plan however the table grows. A statement that reads by anything else, or writes the ledger (whose checks and foreign keys take
    /// the session's plan mode), stays on the main pool. See <see cref="DatabaseOptions.KeyLookupConnections"/>.
    /// </summary>
    public const string KeyLookups = "key-lookups";

    /// <summary>The main pool: <see cref="WithSessionSettings"/>, less the connections of the key lookups' pool.</summary>
    public static string MainPool(string connectionString, DatabaseOptions options)
    {
        var builder = new NpgsqlConnectionStringBuilder(WithSessionSettings(connectionString, options));
        if (!options.KeyLookupsOwnPool) return builder.ConnectionString;
        if (options.KeyLookupConnections * 2 > builder.MaxPoolSize)
        {
            throw new InvalidOperationException($"Database:KeyLookupConnections ({options.KeyLookupConnections}) may take at most half of the "
                + $"connection string's Maximum Pool Size ({builder.MaxPoolSize}): lower it or raise the pool size.");
        }
        builder.MaxPoolSize -= options.KeyLookupConnections;
        builder.MinPoolSize = Math.Min(builder.MinPoolSize, builder.MaxPoolSize);
        return builder.ConnectionString;
    }

    /// <summary>
    /// The key lookups' pool (<see cref="KeyLookups"/>): its size, its name in <c>pg_stat_activity</c>, one index plan per statement.
    /// </summary>
    public static string KeyLookupPool(string connectionString, DatabaseOptions options)
    {
        var builder = new NpgsqlConnectionStringBuilder(WithSessionSettings(connectionString, options))
        {
            MaxPoolSize = options.KeyLookupConnections,
        };
        builder.MinPoolSize = Math.Min(builder.MinPoolSize, builder.MaxPoolSize);
        builder.ApplicationName = string.IsNullOrEmpty(builder.ApplicationName) ? KeyLookups : $"{builder.ApplicationName} ({KeyLookups})";
        // Later start-up options win over earlier ones (the main pool's force_custom_plan, or the connection string's own).
        builder.Options = ((builder.Options ?? "") + " -c plan_cache_mode=force_generic_plan -c enable_seqscan=off").Trim();
        return builder.ConnectionString;
    }

    private static string ResolveConnectionString(IConfiguration configuration, IHostEnvironment environment)
    {
        var configured = configuration.GetConnectionString("Loyalty");
        if (!string.IsNullOrWhiteSpace(configured)) return configured;

        var url = configuration["DATABASE_URL"];
        if (!string.IsNullOrWhiteSpace(url)) return DatabaseUrl.ToConnectionString(url);

        if (!environment.IsDevelopment())
        {
            throw new InvalidOperationException(
                "No database configured: set ConnectionStrings__Loyalty (an Npgsql connection string) or DATABASE_URL " +
                    "(postgres://user:pass@host:port/db).");
        }

        return LocalDatabase.ConnectionString(configuration, environment);
    }
}

/// <summary>Npgsql reads timestamptz as a UTC DateTime; the code speaks DateTimeOffset.</summary>
internal sealed class DateTimeOffsetHandler : Dapper.SqlMapper.TypeHandler<DateTimeOffset>
{
    public override void SetValue(System.Data.IDbDataParameter parameter, DateTimeOffset value) => parameter.Value = value.ToUniversalTime();

    public override DateTimeOffset Parse(object value) => value switch
    {
        DateTime dt => new DateTimeOffset(DateTime.SpecifyKind(dt, DateTimeKind.Utc)),
        DateTimeOffset dto => dto,
        _ => throw new InvalidCastException($"Cannot read {value.GetType()} as DateTimeOffset."),
    };
}
