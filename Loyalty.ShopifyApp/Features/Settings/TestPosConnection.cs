namespace Loyalty.ShopifyApp.Features.Settings;

/// <summary><c>POST /api/admin/settings/pos/test</c>: "Test connection" in the settings, before or after saving.</summary>
public static partial class TestPosConnection
{
    /// <summary>The connection to try: fields left out are taken from the saved settings, so it can be tried before saving.</summary>
    public sealed record PosTestRequest(string? PosBaseUrl, string? PosApiKey);

    /// <summary><c>ok</c> true when the POS answered with the key accepted; otherwise <c>error</c> says what to fix.</summary>
    public sealed record PosTestResult(bool Ok, string? Error, string Detail, long ElapsedMs);

    /// <summary>
    /// Looks up a reference that cannot exist (<c>GET /transactions/loyalty:connection-test</c>): a 404 proves the
    /// URL reaches a POS that accepts the key, without reading or changing any customer's points.
    /// </summary>
    public static async Task<Results<Ok<PosTestResult>, ProblemHttpResult>> HandleAsync(
        HttpContext http, PosTestRequest? request, NpgsqlDataSource db, PosClient posClient, IDataProtectionProvider dataProtection,
        IOptions<PosClientOptions> pos, IOptions<NetworkGuardOptions> guard, IOptions<SettingsOptions> settingsOptions, TimeProvider clock,
        ILoggerFactory loggers, CancellationToken ct)
    {
        var shop = http.User.Shop();
        ShopSettings current;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            current = await ShopSettings.LoadAsync(conn, null, shop, ct);
        }
        var candidate = current with
        {
            PosBaseUrl = string.IsNullOrWhiteSpace(request?.PosBaseUrl) ? current.PosBaseUrl : request.PosBaseUrl.Trim(),
            PosApiKeyProtected = string.IsNullOrEmpty(request?.PosApiKey) ? current.PosApiKeyProtected
                : ShopSettings.PosKeyProtector(dataProtection).Protect(request.PosApiKey),
            BalanceSource = BalanceSources.Pos,
        };
        var keyOnly = new SettingsEndpoints.SettingsUpdate(null, null, null, null, null, null, null, null, null, null, null, null, null,
            request?.PosApiKey);
        var errors = SettingsEndpoints.Validate(candidate, keyOnly, pos.Value, guard.Value, settingsOptions.Value);
        var connectionErrors = errors.Where(e => e.Key is "posBaseUrl" or "posApiKey").ToDictionary();
        // Trying another URL takes a key typed for it: the saved key never leaves for a URL it was not saved with.
        var retypeKey = SettingsEndpoints.SavedKeyWouldMove(current, candidate.PosBaseUrl, keepsSavedKey: string.IsNullOrEmpty(request?.PosApiKey));
        if (retypeKey) connectionErrors["posApiKey"] = [.. connectionErrors.GetValueOrDefault("posApiKey", []), SettingsEndpoints.RetypeKeyMessage];
        if (connectionErrors.Count > 0)
        {
            return retypeKey && connectionErrors.Count == 1
                ? SettingsEndpoints.RetypeKeyProblem(connectionErrors)
                : Problems.Validation("invalid_pos_connection", "The POS connection is incomplete or not allowed.", "See errors for each field.",
                    new Dictionary<string, object?> { ["errors"] = connectionErrors });
        }

        var started = clock.GetTimestamp();
        var lookup = await posClient.FindTransactionAsync(OnTheBoard(candidate.PosConnection(shop, dataProtection)!,
            SavedConnection(current, shop, dataProtection)), "loyalty:connection-test", ct);
        var elapsed = (long)clock.GetElapsedTime(started).TotalMilliseconds;
        // Every failure short of the POS refusing the key gets one answer: telling a refused connection from a TLS error
        // or a timeout would make this endpoint a port scanner. The reason is in the log for the operator.
        var (result, reason) = lookup switch
        {
            PosLookup.NotFound or PosLookup.Found => (new PosTestResult(true, null, "The POS answered and accepted the API key.", elapsed), "ok"),
            PosLookup.Unavailable { Status: 401 or 403 } u => (new PosTestResult(false, "pos_key_rejected", "The POS refused the API key.", elapsed),
                u.Reason),
            PosLookup.Unavailable u => (new PosTestResult(false, "pos_unreachable",
                "The POS could not be reached or did not answer as the POS API does. Check the URL, and that the POS accepts connections.", elapsed),
                    u.Reason),
            _ => throw new InvalidOperationException("Unexpected lookup result."),
        };
        LogPosTested(loggers.CreateLogger(typeof(TestPosConnection)), shop, result.Ok, result.Error, reason);
        return TypedResults.Ok(result);
    }

    /// <summary>
    /// The connection tried, as the shared circuit board knows it: the saved one's name when it is the saved URL and key, so its
    /// outcome counts for the shop's calls; otherwise none. A typed key is encrypted afresh, so its fingerprint is new every time:
    /// a break posted under it would hold back no one, and a probe closing under it would say nothing of the saved connection.
    /// </summary>
    private static PosConnection OnTheBoard(PosConnection tried, PosConnection? saved) =>
        saved is not null && saved.BaseUrl == tried.BaseUrl && saved.ApiKey == tried.ApiKey ? saved : tried with { Circuit = null };

    /// <summary>
    /// The saved connection, or none when its key can no longer be read (the app's data-protection keys changed): the merchant told to
    /// save the key again tests the typed one first, and that test must not fail on the old key.
    /// </summary>
    private static PosConnection? SavedConnection(ShopSettings current, string shop, IDataProtectionProvider dataProtection)
    {
        try
        {
            return current.PosConnection(shop, dataProtection);
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "POS connection test for {Shop}: ok={Ok} {Error} ({Reason})")]
    private static partial void LogPosTested(ILogger logger, string shop, bool ok, string? error, string reason);
}
