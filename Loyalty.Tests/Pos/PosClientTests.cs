using Loyalty.Pos;
using Loyalty.Tests.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using WireMock.Server;

namespace Loyalty.Tests.Pos;

/// <summary>Loyalty.Pos against a POS faked over a real socket: every answer the contract allows, and every way it fails.</summary>
public sealed class PosClientTests : IDisposable
{
    private readonly WireMockServer _pos = WireMockServer.Start();
    private readonly ServiceProvider _services;
    private readonly PosConnection _connection;

    public PosClientTests()
    {
        _services = Build(allowPrivate: true);
        _connection = new PosConnection(new Uri(_pos.Url!), "pos-key-1");
    }

    private static ServiceProvider Build(bool allowPrivate, int maxRetries = 3, ILoggerProvider? logs = null, double attemptSeconds = 0.5) =>
        new ServiceCollection()
        .AddLogging(b =>
        {
            if (logs is not null) b.AddProvider(logs);
        })
        .AddPosClient(o =>
        {
            o.AllowPrivateNetworks = allowPrivate;
            o.AttemptTimeoutSeconds = attemptSeconds;
            o.TotalTimeoutSeconds = 5;
            o.MaxRetries = maxRetries;
            o.RetryBaseDelayMs = 20;
        }).Services.BuildServiceProvider();

    private PosClient Client => _services.GetRequiredService<PosClient>();

    public void Dispose()
    {
        _services.Dispose();
        _pos.Stop();
    }

    private const string DeductPath = "/customers/777/points/deductions";

    private IReadOnlyList<string> PostedReferences(string path) => _pos.LogEntries
        .Where(e => e.RequestMessage!.Path == path && e.RequestMessage.Method == "POST")
        .Select(e => System.Text.Json.JsonDocument.Parse(e.RequestMessage!.Body!).RootElement.GetProperty("reference").GetString()!)
        .ToList();

    private static object Tx(string reference, long points, long balance) => new { transactionId = "t_1", reference, points, balance };

    [Fact]
    public async Task A_deduction_the_POS_creates_is_applied_with_the_key_and_reference()
    {
        _pos.Given(Request.Create().WithPath(DeductPath).UsingPost().WithHeader("Authorization", "Bearer pos-key-1"))
            .RespondWith(Response.Create().WithStatusCode(201).WithBodyAsJson(Tx("conv_1", -500, 750)));

        var outcome = await Client.DeductAsync(_connection, "777", 500, "conv_1", "coupon 777-AB12CD-500", default);

        var applied = Assert.IsType<PosOutcome.Applied>(outcome);
        Assert.Equal((-500L, 750L, false), (applied.Transaction.Points, applied.Transaction.Balance!.Value, applied.Replayed));
        Assert.Contains("\"points\":500", _pos.LogEntries.Single().RequestMessage!.Body);
    }

    [Fact]
    public async Task A_replayed_reference_is_reported_as_applied_before()
    {
        _pos.Given(Request.Create().WithPath(DeductPath).UsingPost())
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(Tx("conv_2", -500, 750)));

        var applied = Assert.IsType<PosOutcome.Applied>(await Client.DeductAsync(_connection, "777", 500, "conv_2", null, default));

        Assert.True(applied.Replayed);
    }

    [Theory]
    [InlineData(422, "insufficient_points", 300L)]
    [InlineData(409, "reference_conflict", null)]
    [InlineData(404, "customer_not_found", null)]
    public async Task Final_refusals_are_rejected_with_the_POS_error_and_not_retried(int status, string error, long? balance)
    {
        _pos.Given(Request.Create().WithPath(DeductPath).UsingPost())
            .RespondWith(Response.Create().WithStatusCode(status).WithBodyAsJson(balance is null ? new { error } : new { error, balance }));

        var rejected = Assert.IsType<PosOutcome.Rejected>(await Client.DeductAsync(_connection, "777", 500, "conv_3", null, default));

        Assert.Equal((error, status, balance), (rejected.Error, rejected.Status, rejected.Balance));
        Assert.Single(_pos.LogEntries);
    }

    [Fact]
    public async Task Server_errors_are_retried_with_the_same_reference_until_the_POS_answers()
    {
        _pos.Given(Request.Create().WithPath(DeductPath).UsingPost()).InScenario("flaky").WillSetStateTo("1")
            .RespondWith(Response.Create().WithStatusCode(500));
        _pos.Given(Request.Create().WithPath(DeductPath).UsingPost()).InScenario("flaky").WhenStateIs("1").WillSetStateTo("2")
            .RespondWith(Response.Create().WithStatusCode(503));
        _pos.Given(Request.Create().WithPath(DeductPath).UsingPost()).InScenario("flaky").WhenStateIs("2")
            .RespondWith(Response.Create().WithStatusCode(201).WithBodyAsJson(Tx("conv_4", -500, 750)));

        Assert.IsType<PosOutcome.Applied>(await Client.DeductAsync(_connection, "777", 500, "conv_4", null, default));

        await _pos.SettledAsync(3);
        Assert.Equal(["conv_4", "conv_4", "conv_4"], PostedReferences(DeductPath));
    }

    [Fact]
    public async Task With_no_retries_configured_a_call_is_a_single_attempt()
    {
        // Pos:MaxRetries accepts 0. A generous attempt timeout: on a busy machine a 0.5 s attempt can lapse before it is sent.
        using var once = Build(allowPrivate: true, maxRetries: 0, attemptSeconds: 5);
        _pos.Given(Request.Create().WithPath(DeductPath).UsingPost()).RespondWith(Response.Create().WithStatusCode(503));

        var outcome = await once.GetRequiredService<PosClient>().DeductAsync(_connection, "777", 500, "conv_13", null, default);

        Assert.IsType<PosOutcome.Unknown>(outcome);
        await _pos.SettledAsync(1);
        Assert.Equal(["conv_13"], PostedReferences(DeductPath));
    }

    [Fact]
    public async Task Too_many_requests_waits_for_retry_after_and_then_succeeds()
    {
        _pos.Given(Request.Create().WithPath("/customers/777/points/additions").UsingPost()).InScenario("429").WillSetStateTo("ok")
            .RespondWith(Response.Create().WithStatusCode(429).WithHeader("Retry-After", "1"));
        _pos.Given(Request.Create().WithPath("/customers/777/points/additions").UsingPost()).InScenario("429").WhenStateIs("ok")
            .RespondWith(Response.Create().WithStatusCode(201).WithBodyAsJson(Tx("order:1", 120, 870)));

        Assert.IsType<PosOutcome.Applied>(await Client.AddAsync(_connection, "777", 120, "order:1", "order #1001", default));

        var times = _pos.LogEntries.Select(e => e.RequestMessage!.DateTime).ToList();
        Assert.Equal(2, times.Count);
        Assert.True(times[1] - times[0] >= TimeSpan.FromMilliseconds(900), "the second attempt honoured Retry-After");
    }

    [Fact]
    public async Task Slow_answers_time_out_per_attempt_and_a_POS_that_stays_slow_gives_an_unknown_outcome()
    {
        _pos.Given(Request.Create().WithPath(DeductPath).UsingPost())
            .RespondWith(Response.Create().WithStatusCode(201).WithDelay(TimeSpan.FromSeconds(2)).WithBodyAsJson(Tx("conv_5", -500, 750)));

        var outcome = await Client.DeductAsync(_connection, "777", 500, "conv_5", null, default);

        Assert.IsType<PosOutcome.Unknown>(outcome);
        await _pos.SettledAsync(4);
        Assert.Equal(4, PostedReferences(DeductPath).Count(r => r == "conv_5")); // first try + 3 retries, one reference
    }

    [Fact]
    public async Task An_answer_cut_off_after_its_headers_is_retried_with_the_same_reference_and_ends_applied()
    {
        // A POS on a raw socket: the first answer's headers promise a body that the dropped connection never
        // delivers (the POS had applied the deduction); the retry is answered as a replay.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var references = new List<string>();
        var server = Task.Run(async () =>
        {
            for (var attempt = 0; attempt < 2; attempt++)
            {
                using var client = await listener.AcceptTcpClientAsync();
                var stream = client.GetStream();
                var request = await ReadRequestAsync(stream);
                lock (references) references.Add(System.Text.Json.JsonDocument.Parse(request).RootElement.GetProperty("reference").GetString()!);
                var body = System.Text.Json.JsonSerializer.Serialize(Tx("conv_12", -500, 750));
                var answer = attempt == 0
                    ? $"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body[..10]}"
                    : $"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";
                await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(answer));
                await stream.FlushAsync();
                client.Client.Shutdown(System.Net.Sockets.SocketShutdown.Both);
            }
        });
        var pos = new PosConnection(new Uri($"http://127.0.0.1:{((System.Net.IPEndPoint)listener.LocalEndpoint).Port}/"), "pos-key-1");

        var outcome = await Client.DeductAsync(pos, "777", 500, "conv_12", null, default);
        Assert.True(outcome is PosOutcome.Applied, $"{outcome} after {references.Count} requests");
        var applied = Assert.IsType<PosOutcome.Applied>(outcome);
        Assert.True(applied.Replayed);
        Assert.Equal(750, applied.Transaction.Balance);
        await server.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["conv_12", "conv_12"], references);
    }

    /// <summary>Reads one HTTP/1.1 request with a JSON body (Content-Length or chunked); returns the JSON.</summary>
    private static async Task<string> ReadRequestAsync(System.Net.Sockets.NetworkStream stream)
    {
        var buffer = new List<byte>();
        var chunk = new byte[4096];
        while (true)
        {
            var read = await stream.ReadAsync(chunk);
            if (read == 0) throw new IOException("closed before a whole request");
            buffer.AddRange(chunk.AsSpan(0, read).ToArray());
            var text = System.Text.Encoding.ASCII.GetString(buffer.ToArray());
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0) continue;
            var length = System.Text.RegularExpressions.Regex.Match(text, "(?i)content-length: *([0-9]+)");
            var complete = length.Success
                ? buffer.Count >= end + 4 + int.Parse(length.Groups[1].Value)
                : text.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal); // chunked: the last chunk has arrived
            if (complete) return text[(text.IndexOf('{', end) is var from ? from : 0)..(text.LastIndexOf('}') + 1)];
        }
    }

    [Fact]
    public async Task Applied_but_the_answer_arrives_broken_is_unknown_and_settles_by_reference()
    {
        // The POS applied the deduction, but the answer that came back is unreadable.
        _pos.Given(Request.Create().WithPath(DeductPath).UsingPost())
            .RespondWith(Response.Create().WithFault(FaultType.MALFORMED_RESPONSE_CHUNK));
        _pos.Given(Request.Create().WithPath("/transactions/conv_6").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(
                new { transactionId = "t_6", customerId = "777", reference = "conv_6", points = -500, createdAt = "2026-11-21T10:00:00Z" }));

        var outcome = await Client.DeductAsync(_connection, "777", 500, "conv_6", null, default);

        Assert.IsType<PosOutcome.Unknown>(outcome); // never guessed as applied or as rejected
        var settled = Assert.IsType<PosLookup.Found>(await Client.FindTransactionAsync(_connection, "conv_6", default));
        Assert.Equal(-500, settled.Transaction.Points);
        await _pos.SettledAsync(1);
        Assert.Equal(["conv_6"], PostedReferences(DeductPath));
    }

    [Fact]
    public async Task Applied_but_the_answer_never_arrives_is_retried_with_the_same_reference_and_ends_applied()
    {
        // The first attempt reaches the POS (which applies it) but the answer comes too late; the retry is a replay.
        _pos.Given(Request.Create().WithPath(DeductPath).UsingPost()).InScenario("lost").WillSetStateTo("applied")
            .RespondWith(Response.Create().WithStatusCode(201).WithDelay(TimeSpan.FromSeconds(3)).WithBodyAsJson(Tx("conv_11", -500, 750)));
        _pos.Given(Request.Create().WithPath(DeductPath).UsingPost()).InScenario("lost").WhenStateIs("applied")
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(Tx("conv_11", -500, 750)));

        var applied = Assert.IsType<PosOutcome.Applied>(await Client.DeductAsync(_connection, "777", 500, "conv_11", null, default));

        Assert.True(applied.Replayed);
        await _pos.SettledAsync(2);
        Assert.Equal(["conv_11", "conv_11"], PostedReferences(DeductPath));
    }

    [Fact]
    public async Task A_lookup_tells_applied_from_never_applied_and_from_unreachable()
    {
        _pos.Given(Request.Create().WithPath("/transactions/conv_7").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(
                new { transactionId = "t_7", customerId = "777", reference = "conv_7", points = -500, createdAt = "2026-11-21T10:00:00Z" }));
        _pos.Given(Request.Create().WithPath("/transactions/conv_8").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(404).WithBodyAsJson(new { error = "not_found" }));
        _pos.Given(Request.Create().WithPath("/transactions/conv_9").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(503));

        var found = Assert.IsType<PosLookup.Found>(await Client.FindTransactionAsync(_connection, "conv_7", default));
        Assert.Equal(-500, found.Transaction.Points);
        Assert.IsType<PosLookup.NotFound>(await Client.FindTransactionAsync(_connection, "conv_8", default));
        Assert.IsType<PosLookup.Unavailable>(await Client.FindTransactionAsync(_connection, "conv_9", default));
    }

    [Fact]
    public async Task Balances_are_read_and_an_unknown_customer_is_told_apart()
    {
        _pos.Given(Request.Create().WithPath("/customers/777/points").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new { customerId = "777", balance = 1250 }));
        _pos.Given(Request.Create().WithPath("/customers/404/points").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(404).WithBodyAsJson(new { error = "customer_not_found" }));

        Assert.Equal(1250, Assert.IsType<PosBalance.Found>(await Client.GetBalanceAsync(_connection, "777", default)).Balance);
        Assert.IsType<PosBalance.CustomerNotFound>(await Client.GetBalanceAsync(_connection, "404", default));
    }

    [Theory]
    [InlineData("""{"balance":"lots"}""")]
    [InlineData("""{"balance":1.5}""")]
    [InlineData("""{"points":5}""")]
    [InlineData("""[]""")]
    [InlineData("""null""")]
    public async Task A_balance_answer_that_breaks_the_contract_is_unavailable_and_logged(string answer)
    {
        var logs = new CapturedLogs();
        await using var services = Build(allowPrivate: true, logs: logs);
        _pos.Given(Request.Create().WithPath("/customers/777/points").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(answer));

        var balance = await services.GetRequiredService<PosClient>().GetBalanceAsync(_connection, "777", default);

        Assert.Equal("answer not understood", Assert.IsType<PosBalance.Unavailable>(balance).Reason);
        Assert.Contains(logs.Lines, l => l.Category == typeof(PosClient).FullName && l.Level == LogLevel.Warning
            && l.Message.Contains("balance", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_huge_answer_fails_the_call_at_the_limit_quickly_and_is_not_retried(bool declaredLength)
    {
        // 100 MB, generated as it is sent; chunked, or announced by its Content-Length.
        using var huge = new Loyalty.Tests.Infrastructure.HugeAnswerServer(status: 201, declareLength: declaredLength);
        var pos = new PosConnection(new Uri(huge.Url), "pos-key-1");
        var watch = System.Diagnostics.Stopwatch.StartNew();

        var deduction = await Client.DeductAsync(pos, "777", 500, "conv_14", null, default);
        var balance = await Client.GetBalanceAsync(pos, "777", default);
        var lookup = await Client.FindTransactionAsync(pos, "conv_14", default);

        Assert.Contains("larger than 65536 bytes", Assert.IsType<PosOutcome.Unknown>(deduction).Reason); // it may have been applied
        Assert.Contains("larger than 65536 bytes", Assert.IsType<PosBalance.Unavailable>(balance).Reason);
        Assert.Contains("larger than 65536 bytes", Assert.IsType<PosLookup.Unavailable>(lookup).Reason);
        Assert.Equal(3, huge.Requests); // one attempt each: a retry would only be as long
        Assert.True(huge.BytesSent < 16 * 1024 * 1024, $"{huge.BytesSent} bytes were sent before the client hung up");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task One_merchants_failing_calls_do_not_open_the_circuit_for_another_merchant_on_the_same_POS_host()
    {
        // Two shops on one multi-tenant POS service: the POS rate-limits the first shop's key, the second's is fine.
        var logs = new CapturedLogs();
        await using var services = Build(allowPrivate: true, maxRetries: 0, logs);
        var client = services.GetRequiredService<PosClient>();
        _pos.Given(Request.Create().WithPath("/customers/1/points").UsingGet().WithHeader("Authorization", "Bearer key-of-shop-a"))
            .RespondWith(Response.Create().WithStatusCode(429));
        _pos.Given(Request.Create().WithPath("/customers/1/points").UsingGet().WithHeader("Authorization", "Bearer key-of-shop-b"))
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new { customerId = "1", balance = 5 }));
        var shopA = new PosConnection(new Uri(_pos.Url!), "key-of-shop-a");
        var shopB = new PosConnection(new Uri(_pos.Url!), "key-of-shop-b");

        for (var i = 0; i < 25; i++) await client.GetBalanceAsync(shopA, "1", default);
        var other = await client.GetBalanceAsync(shopB, "1", default);

        Assert.True(other is PosBalance.Found, $"shop B got {other}");
        Assert.Contains("circuit", Assert.IsType<PosBalance.Unavailable>(await client.GetBalanceAsync(shopA, "1", default)).Reason);
        Assert.Contains(logs.Lines, l => l.Message.Contains("OnCircuitOpened", StringComparison.Ordinal)); // the circuit's name is logged...
        Assert.DoesNotContain(logs.Lines, l => l.Message.Contains("key-of-shop", StringComparison.Ordinal)); // ...and never holds the key
    }

    [Fact]
    public async Task A_failed_call_tells_a_stable_reason_and_leaves_addresses_and_transport_detail_to_the_log()
    {
        var logs = new CapturedLogs();
        await using var strict = Build(allowPrivate: false, maxRetries: 0, logs);
        await using var lenient = Build(allowPrivate: true, maxRetries: 0, logs);
        using var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        var port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop(); // nothing listens there any more: connections are refused
        const string name = "localhost"; // stands for an internal DNS name that resolves to a private address
        var addresses = (await System.Net.Dns.GetHostAddressesAsync(name)).Select(a => a.ToString()).ToList();

        var refused = await strict.GetRequiredService<PosClient>().GetBalanceAsync(new PosConnection(new Uri($"http://{name}:{port}/"), "k"), "777",
            default);
        var unreachable = await lenient.GetRequiredService<PosClient>().DeductAsync(new PosConnection(new Uri($"http://127.0.0.1:{port}/"), "k"),
            "777", 5,
            "conv_unreachable", null, default);

        Assert.Equal("refused: address not allowed", Assert.IsType<PosBalance.Unavailable>(refused).Reason);
        Assert.Equal("unreachable", Assert.IsType<PosOutcome.Unknown>(unreachable).Reason);
        // the operator learns where the name led
        Assert.Contains(logs.Lines, l => addresses.Any(a => l.Message.Contains(a, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_POS_address_on_a_private_network_is_refused_unless_allowed()
    {
        using var strict = Build(allowPrivate: false);
        _pos.Given(Request.Create().WithPath(DeductPath).UsingPost()).RespondWith(Response.Create().WithStatusCode(201));

        var outcome = await strict.GetRequiredService<PosClient>().DeductAsync(_connection, "777", 500, "conv_10", null, default);

        Assert.Contains("not allowed", Assert.IsType<PosOutcome.Unknown>(outcome).Reason);
        Assert.Empty(_pos.LogEntries);
    }

    [Theory]
    [InlineData("conv 1")]
    [InlineData("")]
    [InlineData("ref/with/slash")]
    public async Task An_invalid_reference_is_refused_before_anything_is_sent(string reference)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => Client.DeductAsync(_connection, "777", 500, reference, null, default));
        Assert.Empty(_pos.LogEntries);
    }
}
