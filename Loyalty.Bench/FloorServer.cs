using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Loyalty.Sandbox;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Http;
using Npgsql;

namespace Loyalty.Bench;

/// <summary>
/// The conversion benchmark's floor (<c>conversions --floor calls|commits|minimal</c>): a process that answers
/// <c>POST /proxy/api/conversions</c> by making the app's outgoing calls in the app's order and nothing else: the POS balance, the
/// coupon's creation in Shopify, the POS deduction beside the read of the customer's <c>loyalty.coupons</c>, the answer, and the
/// list's write behind it. No signature check, no rules, no retries, no records. With <c>commits</c> it also makes the saga's
/// durable writes on the path, one single-row statement each (the claim after the balance, the send's record before the coupon,
/// the coupon's record before the deduction, the completion before the answer; the list's record behind it), so the figures say
/// what those commits cost on this machine by themselves. <c>minimal</c> keeps only the two writes the saga's guarantees need before
/// the customer can be answered (the claim, carrying the send's record; the coupon's record before the deduction) and makes the
/// completion behind the answer with the list's. Measured by the same load, clock and simulators' records as the app,
/// what this adds is the part of "the app adds" that no implementation of the same calls (and commits) avoids here: the load
/// generator, the simulators and the HTTP stacks sharing the cores, and the database's flushes.
/// </summary>
public static class FloorServer
{
    public const string Command = "floor-server";

    /// <summary>
    /// Runs the floor until the process is stopped; settings from the environment (<c>Floor__Pos</c> and so on): the conversion's floor
    /// when <c>Floor:Pos</c> is set, the award's (<see cref="WebhookFloor"/>) when <c>Floor:WebhookSecret</c> is, with the app's ledger
    /// (<see cref="WebhookLedgerFloor"/>) when <c>Floor:Ledger</c> names its mode as well.
    /// </summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapGet("/health/ready", () => Results.Ok());
        if (builder.Configuration["Floor:Pos"] is not null) await MapConversionsAsync(app, builder.Configuration);
        if (builder.Configuration["Floor:WebhookSecret"] is { } secret)
        {
            if (builder.Configuration["Floor:Ledger"] is { } mode) WebhookLedgerFloor.Map(app, Setting(builder.Configuration, "Db"), secret, mode);
            else WebhookFloor.Map(app, Setting(builder.Configuration, "Db"), secret);
        }
        await app.RunAsync();
        return 0;
    }

    private static async Task MapConversionsAsync(WebApplication app, IConfiguration config)
    {
        var pos = new Uri(Setting(config, "Pos"));
        var posKey = Setting(config, "PosKey");
        var graphQL = Setting(config, "GraphQL"); // the bench shop's Admin GraphQL endpoint at the simulator
        var token = Setting(config, "Token");
        var commits = config["Floor:Commits"] is { Length: > 0 } cs ? NpgsqlDataSource.Create(cs) : null;
        var minimal = config["Floor:Minimal"] == "true";
        // The process's own, for as long as it runs.
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 512, PooledConnectionLifetime = TimeSpan.FromMinutes(5) });
        if (commits is not null)
        {
            await using var create = commits.CreateCommand("""
                CREATE TABLE IF NOT EXISTS floor_conversions (
                    id uuid PRIMARY KEY, customer_id bigint NOT NULL, points bigint NOT NULL, state text NOT NULL,
                    coupon_requested_at timestamptz, deduct_attempted_at timestamptz, completed_at timestamptz, listed_at timestamptz)
                """);
            await create.ExecuteNonQueryAsync();
        }

        app.MapPost("/proxy/api/conversions", async (HttpContext context) =>
        {
            var ct = context.RequestAborted;
            if (await ReadConversionAsync(context, ct) is not (var customer, var points)) return Results.BadRequest(); // a 400, not a 500
            var id = Guid.NewGuid();
            var code = $"FLOOR-{id:N}"[..20].ToUpperInvariant();

            using (var balance = await http.SendAsync(Pos(HttpMethod.Get, $"customers/{customer}/points"), ct)) balance.EnsureSuccessStatusCode();
            await WriteAsync(minimal
                ? """
                  INSERT INTO floor_conversions (id, customer_id, points, state, coupon_requested_at)
                  VALUES (@id, @customer, @points, 'pending', now())
                  """
                : "INSERT INTO floor_conversions (id, customer_id, points, state) VALUES (@id, @customer, @points, 'pending')");
            if (!minimal) await WriteAsync("UPDATE floor_conversions SET coupon_requested_at = now() WHERE id = @id");
            await GraphQLAsync("CreateLoyaltyCode", new
            {
                input = new
                {
                    title = $"{points} points", code, startsAt = "2026-12-01T00:00:00Z", endsAt = "2027-12-01T00:00:00Z", usageLimit = 1,
                    appliesOncePerCustomer = true, context = new { customers = new { add = new[] { $"gid://shopify/Customer/{customer}" } } },
                    customerGets = new
                    {
                        value = new { discountAmount = new { amount = "1.00", appliesOnEachItem = false } }, items = new { all = true },
                    },
                    combinesWith = new { orderDiscounts = false, productDiscounts = true, shippingDiscounts = true },
                },
            }, ct);
            await WriteAsync("UPDATE floor_conversions SET state = 'coupon_created', deduct_attempted_at = now() WHERE id = @id");
            var deduct = Pos(HttpMethod.Post, $"customers/{customer}/points/deductions");
            deduct.Content = JsonContent.Create(new { points, reference = id.ToString(), note = $"coupon {code}" });
            var list = GraphQLAsync("LoyaltyCoupons", new { id = $"gid://shopify/Customer/{customer}" }, ct);
            using (var deducted = await http.SendAsync(deduct, ct)) deducted.EnsureSuccessStatusCode();
            const string Completion = "UPDATE floor_conversions SET state = 'completed', completed_at = now() WHERE id = @id";
            if (!minimal) await WriteAsync(Completion);
            _ = Task.Run(async () =>
            {
                if (minimal) await WriteAsync(Completion);
                var read = (await list)["customer"]?["metafield"];
                await GraphQLAsync("SetLoyaltyCoupons", new
                {
                    metafields = new[]
                    {
                        new
                        {
                            ownerId = $"gid://shopify/Customer/{customer}", @namespace = "loyalty", key = "coupons", type = "json",
                            value = new JsonArray(new JsonObject { ["code"] = code }).ToJsonString(),
                            compareDigest = read?["compareDigest"]?.GetValue<string>(),
                        },
                    },
                }, CancellationToken.None);
                await WriteAsync("UPDATE floor_conversions SET listed_at = now() WHERE id = @id");
            }, CancellationToken.None);
            return Results.Json(new { conversionId = id.ToString(), code, points }, statusCode: StatusCodes.Status201Created);

            async Task WriteAsync(string sql)
            {
                if (commits is null) return;
                await using var command = commits.CreateCommand(sql);
                command.Parameters.AddWithValue("id", id);
                command.Parameters.AddWithValue("customer", customer);
                command.Parameters.AddWithValue("points", points);
                await command.ExecuteNonQueryAsync(CancellationToken.None);
            }
        });

        HttpRequestMessage Pos(HttpMethod method, string path) =>
            new(method, new Uri(pos, path)) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", posKey) } };

        async Task<JsonNode> GraphQLAsync(string operation, object variables, CancellationToken ct)
        {
            var document = AdminOperations.Bundled.Operations.Single(o => o.Name == operation).Document;
            using var request = new HttpRequestMessage(HttpMethod.Post, graphQL)
            {
                Content = JsonContent.Create(new { query = document, variables }),
            };
            request.Headers.Add("X-Shopify-Access-Token", token);
            using var response = await http.SendAsync(request, ct);
            response.EnsureSuccessStatusCode();
            var body = await response.Content.ReadFromJsonAsync<JsonNode>(ct);
            return body?["data"] ?? throw new InvalidOperationException($"{operation}: {body?.ToJsonString(new JsonSerializerOptions())}");
        }
    }

    /// <summary>The logged-in customer and the points asked for; null when the request does not name them (the app answers 400 too).</summary>
    private static async Task<(long Customer, long Points)?> ReadConversionAsync(HttpContext context, CancellationToken ct)
    {
        if (!long.TryParse(context.Request.Query["logged_in_customer_id"], System.Globalization.CultureInfo.InvariantCulture, out var customer))
        {
            return null;
        }
        try
        {
            var body = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: ct);
            return body?["points"] is JsonValue v && v.TryGetValue<long>(out var points)
                ? (customer, points)
                : null;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    private static string Setting(IConfiguration config, string name) =>
        config[$"Floor:{name}"] ?? throw new InvalidOperationException($"Floor:{name} is not set.");
}
