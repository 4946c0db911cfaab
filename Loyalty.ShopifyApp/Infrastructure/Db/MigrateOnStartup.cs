using System.ComponentModel.DataAnnotations;

namespace Loyalty.ShopifyApp.Infrastructure.Db;

/// <summary>Section <c>Database</c> (the local server of <c>dotnet run</c> reads its own keys there too).</summary>
public sealed class DatabaseOptions
{
    public const string Section = "Database";

    /// <summary>
    /// How long an instance that starts while its database is unreachable (starting, restarting, failing over) waits for it
    /// before it gives up; 0 gives up at once.
    /// </summary>
    [Range(0, 3600)]
    public int StartupWaitSeconds { get; set; } = 60;

    /// <summary>
    /// How many of its most used statements each connection keeps prepared (Npgsql's <c>Max Auto Prepare</c>), so PostgreSQL
    /// parses them once per connection instead of on every call: about a quarter of the database's CPU per award. 0 turns it off
    /// (a pooler in transaction mode that cannot keep prepared statements). A <c>Max Auto Prepare</c> in the connection string wins.
    /// </summary>
    [Range(0, 1000)]
    public int AutoPrepareStatements { get; set; } = 64;

    /// <summary>
    /// Plans every statement for the values it is run with (<c>plan_cache_mode = force_custom_plan</c> for the app's sessions):
    /// a prepared statement's generic plan, made while a table was small, can go on scanning it long after it grew (the reference
    /// lookup and the ledger check took 230 µs instead of 5). Off for a pooler that refuses start-up options.
    /// </summary>
    public bool ForceCustomPlans { get; set; } = true;

    /// <summary>
    /// Connections, taken from the connection string's <c>Maximum Pool Size</c> (at most half of it), of a second pool for statements
    /// that find one row by its primary key and nothing else (<see cref="DbExtensions.KeyLookups"/>: a conversion's fenced state changes
    /// and reads, Shopify's shared cost bucket). Its sessions plan such a statement once per connection, as an index scan
    /// (<c>force_generic_plan</c>, <c>enable_seqscan</c> off), instead of on every call: under <see cref="ForceCustomPlans"/> planning
    /// was more than half of PostgreSQL's time per conversion. 0: they run on the main pool, as they also do when
    /// <see cref="ForceCustomPlans"/> or <see cref="AutoPrepareStatements"/> is off (a pooler: no start-up options, no prepared plans).
    /// </summary>
    [Range(0, 500)]
    public int KeyLookupConnections { get; set; } = 16;

    /// <summary>
    /// Whether Npgsql resets a connection's session when it is handed back to the pool (its <c>No Reset On Close</c> off): seven
    /// statements (<c>RESET ALL</c>, <c>SET SESSION AUTHORIZATION DEFAULT</c>, <c>pg_advisory_unlock_all()</c>, …) that PostgreSQL runs
    /// before the next user's first command, about 0.2 ms added to that command on this page's bench machine and two thirds of the
    /// statements of a conversion. Off: the app keeps no session state on a pooled connection but session advisory locks, which
    /// <see cref="SessionLocks"/> releases (a session whose release fails is not reused); an open transaction is still rolled back.
    /// A <c>No Reset On Close</c> in the connection string wins.
    /// </summary>
    public bool ResetConnectionsOnClose { get; set; }

    /// <summary>Whether the key lookups get a pool of their own (<see cref="KeyLookupConnections"/>).</summary>
    public bool KeyLookupsOwnPool => KeyLookupConnections > 0 && ForceCustomPlans && AutoPrepareStatements > 0;
}

[OptionsValidator]
public sealed partial class DatabaseOptionsValidator : IValidateOptions<DatabaseOptions>;

/// <summary>
/// Runs the migrations before the server starts listening (hosted services start first). An instance that starts while the
/// database is down or restarting waits for it, up to <see cref="DatabaseOptions.StartupWaitSeconds"/>, instead of exiting:
/// orchestrators start the app and its database together, and an instance restarted during a database restart must come up.
/// </summary>
public sealed partial class MigrateOnStartup(Migrator migrator, IOptions<DatabaseOptions> options, TimeProvider clock,
    ILogger<MigrateOnStartup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var deadline = clock.GetUtcNow().AddSeconds(options.Value.StartupWaitSeconds);
        var delay = TimeSpan.FromMilliseconds(250);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await migrator.MigrateAsync(cancellationToken);
                if (attempt > 1) LogReached(attempt);
                return;
            }
            catch (Exception e) when (IsUnavailable(e) && !cancellationToken.IsCancellationRequested)
            {
                if (clock.GetUtcNow() + delay > deadline)
                {
                    throw new InvalidOperationException(
                        $"The database stayed unreachable for Database:StartupWaitSeconds ({options.Value.StartupWaitSeconds} s): {e.Message}", e);
                }
                LogWaiting(attempt, e.Message, delay.TotalSeconds);
                await Task.Delay(delay, clock, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// The database cannot be reached or is not taking connections yet: refused or broken sockets, and PostgreSQL's connection
    /// exceptions (08), shutdowns and start-ups (57P01-57P03), and lack of resources (53). Anything else (a bad password, a
    /// failed migration) stops start-up at once.
    /// </summary>
    public static bool IsUnavailable(Exception e) => e switch
    {
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState.StartsWith("57P", StringComparison.Ordinal)
                                || pg.SqlState.StartsWith("53", StringComparison.Ordinal),
        NpgsqlException { InnerException: System.Net.Sockets.SocketException or IOException or TimeoutException } => true,
        NpgsqlException npgsql => npgsql.IsTransient,
        _ => false,
    };

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The database is not reachable yet (attempt {Attempt}: {Reason}); trying again in {DelaySeconds:F2} s")]
    private partial void LogWaiting(int attempt, string reason, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "The database is reachable again after {Attempts} attempts; migrations done")]
    private partial void LogReached(int attempts);
}
