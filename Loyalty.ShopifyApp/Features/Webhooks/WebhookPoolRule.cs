namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>
/// Webhook work holds database connections: each processing lane one while it works, each intake writer one while it stores.
/// Together they may take at most half of the main connection pool (<c>Maximum Pool Size</c> of the connection string, 100 by
/// default, less <see cref="Infrastructure.Db.DatabaseOptions.KeyLookupConnections"/>), so requests and jobs keep the rest; a
/// setting that would starve them stops start-up instead of surfacing as timeouts under load.
/// </summary>
public sealed class WebhookPoolRule(NpgsqlDataSource db) : IValidateOptions<WebhookOptions>
{
    public ValidateOptionsResult Validate(string? name, WebhookOptions options)
    {
        var pool = new NpgsqlConnectionStringBuilder(db.ConnectionString).MaxPoolSize;
        var held = options.Parallelism + options.IntakeWriters;
        return held * 2 <= pool
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(
                $"Webhooks:Parallelism ({options.Parallelism}) + Webhooks:IntakeWriters ({options.IntakeWriters}) may hold at most half "
                + $"of the main database pool ({pool} connections: the connection string's Maximum Pool Size less "
                + "Database:KeyLookupConnections): lower them or raise the pool size.");
    }
}
