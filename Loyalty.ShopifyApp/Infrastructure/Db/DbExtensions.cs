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
        builder.Services.AddSingleton(sp => new NpgsqlDataSourceBuilder(WithSessionSettings(
                ResolveConnectionString(sp.GetRequiredService<IConfiguration>(), sp.GetRequiredService<IHostEnvironment>()),
                sp.GetRequiredService<IOptions<DatabaseOptions>>().Value))
            .UseLoggerFactory(sp.GetRequiredService<ILoggerFactory>())
            .Build());
        builder.Services.AddSingleton<Migrator>();
        builder.Services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<DatabaseOptions>, DatabaseOptionsValidator>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddHostedService<MigrateOnStartup>();
        return builder;
    }

    /// <summary>The connection string with <see cref="DatabaseOptions"/>' statement preparation and plan mode, unless it sets its own.</summary>
    public static string WithSessionSettings(string connectionString, DatabaseOptions options)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        // Whether the string names it at all (0 included: how one turns preparation off for a pooler); NpgsqlConnectionStringBuilder's
        // own ContainsKey only says whether a keyword is known.
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        if (!given.ContainsKey("Max Auto Prepare") && !given.ContainsKey("MaxAutoPrepare")) builder.MaxAutoPrepare = options.AutoPrepareStatements;
        if (options.ForceCustomPlans && builder.Options?.Contains("plan_cache_mode", StringComparison.Ordinal) != true)
        {
            builder.Options = ((builder.Options ?? "") + " -c plan_cache_mode=force_custom_plan").Trim();
        }
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
