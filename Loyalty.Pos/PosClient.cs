using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Loyalty.Pos;

/// <summary>
/// The POS points API (see shared/pos-api.md). Transient failures are retried by the resilience pipeline
/// registered in <see cref="PosServiceCollectionExtensions.AddPosClient"/>; additions and deductions may be
/// retried only because they carry a reference, which the POS applies at most once. This class only says
/// what the final answer means: applied, rejected (with the POS's error), or unknown.
/// </summary>
public sealed partial class PosClient(HttpClient http, ILogger<PosClient> logger)
{
    public async Task<PosBalance> GetBalanceAsync(PosConnection pos, string customerId, CancellationToken ct)
    {
        using var request = Request(HttpMethod.Get, pos, $"customers/{Uri.EscapeDataString(customerId)}/points");
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (response.IsSuccessStatusCode)
            {
                var body = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
                if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("balance", out var balance)
                    && balance.ValueKind == JsonValueKind.Number
                    && balance.TryGetInt64(out var points))
                {
                    return new PosBalance.Found(points);
                }
                // Not the contract ({"balance": <integer>}): as good as no answer, and the callers fall back as they do for one.
                LogNotUnderstood("balance read", customerId, body.ValueKind == JsonValueKind.Object
                    ? $"balance is {(body.TryGetProperty("balance", out var b) ? b.ValueKind.ToString() : "missing")}"
                        : $"the answer is {body.ValueKind}");
                return new PosBalance.Unavailable(OutboundFailure.NotUnderstood);
            }
            if (response.StatusCode == HttpStatusCode.NotFound) return new PosBalance.CustomerNotFound();
            return new PosBalance.Unavailable($"HTTP {(int)response.StatusCode}");
        }
        catch (Exception e) when (IsTransport(e, ct))
        {
            return new PosBalance.Unavailable(Failure("balance read", customerId, e));
        }
    }

    public Task<PosOutcome> DeductAsync(PosConnection pos, string customerId, long points, string reference, string? note, CancellationToken ct) =>
        MoveAsync(pos, customerId, "deductions", points, reference, note, ct);

    public Task<PosOutcome> AddAsync(PosConnection pos, string customerId, long points, string reference, string? note, CancellationToken ct) =>
        MoveAsync(pos, customerId, "additions", points, reference, note, ct);

    /// <summary>Settles an unknown outcome: did the POS apply <paramref name="reference"/>?</summary>
    public async Task<PosLookup> FindTransactionAsync(PosConnection pos, string reference, CancellationToken ct)
    {
        if (!PosReference.IsValid(reference)) throw new ArgumentException("Invalid POS reference.", nameof(reference));
        using var request = Request(HttpMethod.Get, pos, $"transactions/{Uri.EscapeDataString(reference)}");
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (response.IsSuccessStatusCode)
            {
                var tx = await response.Content.ReadFromJsonAsync<PosTransaction>(ct);
                return tx is null ? new PosLookup.Unavailable("empty body") : new PosLookup.Found(tx);
            }
            if (response.StatusCode == HttpStatusCode.NotFound && await ErrorOf(response, ct) is ("not_found", _)) return new PosLookup.NotFound();
            return new PosLookup.Unavailable($"HTTP {(int)response.StatusCode}", (int)response.StatusCode);
        }
        catch (Exception e) when (IsTransport(e, ct))
        {
            return new PosLookup.Unavailable(Failure("lookup", reference, e));
        }
    }

    private async Task<PosOutcome> MoveAsync(PosConnection pos, string customerId, string kind, long points, string reference, string? note,
        CancellationToken ct)
    {
        if (points <= 0) throw new ArgumentOutOfRangeException(nameof(points), "Points must be positive; the endpoint says which way they move.");
        if (!PosReference.IsValid(reference)) throw new ArgumentException("Invalid POS reference.", nameof(reference));

        using var request = Request(HttpMethod.Post, pos, $"customers/{Uri.EscapeDataString(customerId)}/points/{kind}");
        request.Content = JsonContent.Create(new { points, reference, note });
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (response.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK)
            {
                var tx = await response.Content.ReadFromJsonAsync<PosTransaction>(ct);
                if (tx is null) return new PosOutcome.Unknown("the POS answered without a body");
                LogApplied(kind, reference, points, response.StatusCode == HttpStatusCode.OK);
                return new PosOutcome.Applied(tx, Replayed: response.StatusCode == HttpStatusCode.OK);
            }

            var status = (int)response.StatusCode;
            if (status is 408 or 429 || status >= 500 || status < 400)
            {
                LogUnknown(kind, reference, $"HTTP {status} after retries");
                return new PosOutcome.Unknown($"HTTP {status} after retries");
            }
            var (error, balance) = await ErrorOf(response, ct);
            LogRejected(kind, reference, status, error);
            return new PosOutcome.Rejected(error, status, balance);
        }
        catch (Exception e) when (IsTransport(e, ct))
        {
            var reason = Failure(kind, reference, e);
            LogUnknown(kind, reference, reason);
            return new PosOutcome.Unknown(reason);
        }
    }

    private static HttpRequestMessage Request(HttpMethod method, PosConnection pos, string path)
    {
        var request = new HttpRequestMessage(method, new Uri(new Uri(pos.BaseUrl.ToString().TrimEnd('/') + "/"), path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", pos.ApiKey);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (pos.Circuit is { } circuit) request.Options.Set(PosPipelines.CircuitKey, circuit);
        return request;
    }

    private static async Task<(string Error, long? Balance)> ErrorOf(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
            var error = body.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()!
                : $"http_{(int)response.StatusCode}";
            long? balance = body.TryGetProperty("balance", out var b) && b.TryGetInt64(out var v) ? v : null;
            return (error, balance);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            return ($"http_{(int)response.StatusCode}", null);
        }
    }

    /// <summary>Failures of the transport or the pipeline, as opposed to the caller cancelling.</summary>
    private static bool IsTransport(Exception e, CancellationToken ct) =>
        !ct.IsCancellationRequested && e is HttpRequestException or TimeoutRejectedException or BrokenCircuitException
            or TaskCanceledException or IOException or JsonException;

    /// <summary>
    /// What went wrong, for the outcome: a stable reason (<see cref="OutboundFailure"/>), shown to merchants, never an address
    /// or transport detail. The detail is logged here, for the operator.
    /// </summary>
    private string Failure(string call, string subject, Exception e)
    {
        if (e is ResponseTooLargeException tooLarge)
        {
            LogTooLarge(call, subject, tooLarge.Limit);
            return $"{OutboundFailure.TooLarge(tooLarge.Limit)} (Pos:MaxResponseBytes); not read further, not retried";
        }
        var reason = OutboundFailure.Reason(e);
        LogFailed(call, subject, reason, OutboundFailure.Detail(e));
        return reason;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "POS {Kind} {Reference} of {Points} points applied (replayed: {Replayed})")]
    private partial void LogApplied(string kind, string reference, long points, bool replayed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "POS {Kind} {Reference} rejected with {Status} {Error}")]
    private partial void LogRejected(string kind, string reference, int status, string error);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "POS {Call} of {Subject} failed: the answer was larger than {Limit} bytes, so it was not read further and the call is not retried")]
    private partial void LogTooLarge(string call, string subject, long limit);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "POS {Call} of {Subject}: the answer does not follow the POS API ({Shape}); taken as the POS being unavailable")]
    private partial void LogNotUnderstood(string call, string subject, string shape);

    [LoggerMessage(Level = LogLevel.Warning, Message = "POS {Call} of {Subject} failed ({Reason}): {Detail}")]
    private partial void LogFailed(string call, string subject, string reason, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "POS {Kind} {Reference} outcome unknown: {Reason}")]
    private partial void LogUnknown(string kind, string reference, string reason);
}
