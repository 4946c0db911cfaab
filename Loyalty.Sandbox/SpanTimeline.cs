using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Loyalty.Sandbox;

/// <summary>
/// Where a conversion's own time goes, from the app's exported spans: a minimal OTLP/HTTP receiver (protobuf, traces only) that
/// the app exports to, and a timeline of each conversion request (its database and HTTP client spans, and the spans of the drive
/// linked to it) up to the answer. The app's spans are its own account, so this only ranks the steps; the time the app adds is
/// still judged from the simulators' records (<c>ServedTime</c>).
/// </summary>
public sealed class SpanTimeline : IAsyncDisposable
{
    public sealed record Span(string TraceId, string SpanId, string ParentId, string Name, int Kind, string Scope, long Start, long End,
        Dictionary<string, string> Attributes, List<(string TraceId, string SpanId)> Links)
    {
        public double Ms => (End - Start) / 1e6;
    }

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Span> _spans = new();

    private SpanTimeline(WebApplication app) => _app = app;

    public string Endpoint => _app.Urls.First();

    public static async Task<SpanTimeline> StartAsync(CancellationToken ct)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var timeline = new SpanTimeline(app);
        app.MapPost("/v1/{signal}", async (string signal, HttpContext http) =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body, http.RequestAborted);
            if (signal == "traces") timeline.Read(body.ToArray());
            http.Response.ContentType = "application/x-protobuf";
        });
        await app.StartAsync(ct);
        return timeline;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    /// <summary>
    /// The conversion requests' timelines, for the spans received since <paramref name="since"/> (Unix ns): per request, the time
    /// up to the answer in outgoing HTTP calls, in database commands besides them, and in neither; then the spans of the median
    /// request and of the p99 one by the app's own account (database and neither).
    /// </summary>
    public void Print(long since, TextWriter output)
    {
        var spans = _spans.Where(s => s.Start >= since).ToList();
        var byTrace = spans.ToLookup(s => s.TraceId);
        var drives = spans.Where(s => s.Links.Count > 0).ToLookup(s => s.Links[0].TraceId);
        var rows = new List<(Span Request, List<Span> Steps, double Http, double Db, double Other)>();
        foreach (var request in spans.Where(s => s.Kind == 2 && s.Attributes.GetValueOrDefault("http.request.method") == "POST"
                     && s.Attributes.GetValueOrDefault("url.path", "").EndsWith("/api/conversions", StringComparison.Ordinal)))
        {
            var steps = byTrace[request.TraceId].Concat(drives[request.TraceId].SelectMany(d => byTrace[d.TraceId]))
                .Where(s => s.Scope is "Npgsql" or "System.Net.Http" && s.Start < request.End)
                .Select(s => s with { End = Math.Min(s.End, request.End) }).OrderBy(s => s.Start).ToList();
            var http = Union(steps.Where(s => s.Scope != "Npgsql"));
            var all = Union(steps);
            rows.Add((request, steps, http / 1e6, (all - http) / 1e6, (request.End - request.Start - all) / 1e6));
        }
        if (rows.Count == 0)
        {
            output.WriteLine("timeline: no conversion request spans received");
            return;
        }
        double Median(Func<(Span, List<Span>, double, double, double), double> f) => rows.Select(f).Order().ElementAt(rows.Count / 2);
        double P99(Func<(Span, List<Span>, double, double, double), double> f) =>
            rows.Select(f).Order().ElementAt(Math.Min(rows.Count - 1, (int)Math.Ceiling(rows.Count * 0.99) - 1));
        output.WriteLine($"timeline of {rows.Count} conversion requests, medians: answered in {Median(r => r.Item1.Ms):0.0} ms; " +
                         $"outgoing HTTP {Median(r => r.Item3):0.0} ms; database besides it {Median(r => r.Item4):0.0} ms in " +
                         $"{Median(r => r.Item2.Count(s => s.Scope == "Npgsql")):0} commands; neither {Median(r => r.Item5):0.0} ms; " +
                         $"p99: database besides HTTP {P99(r => r.Item4):0.0} ms, neither {P99(r => r.Item5):0.0} ms, " +
                         $"the two together {P99(r => r.Item4 + r.Item5):0.0} ms");
        PrintSteps(rows.OrderBy(r => r.Request.Ms).ElementAt(rows.Count / 2), "the median request", output);
        // The tail by the app's own account (database and neither, not the calls): which stretches make a slow one slow.
        var slow = rows.OrderBy(r => r.Db + r.Other).ElementAt(Math.Min(rows.Count - 1, (int)Math.Ceiling(rows.Count * 0.99) - 1));
        PrintSteps(slow, $"the p99 request by database and neither ({slow.Db + slow.Other:0.0} ms)", output);
    }

    private static void PrintSteps((Span Request, List<Span> Steps, double Http, double Db, double Other) row, string title, TextWriter output)
    {
        output.WriteLine($"{title} (offset from its start, duration, what):");
        var reached = row.Request.Start;
        foreach (var step in row.Steps)
        {
            if (step.Start > reached)
            {
                output.WriteLine($"  {(reached - row.Request.Start) / 1e6,7:0.00} {(step.Start - reached) / 1e6,6:0.00}  (neither)");
            }
            var offset = (step.Start - row.Request.Start) / 1e6;
            output.WriteLine($"  {offset,7:0.00} {step.Ms,6:0.00}  {Label(step)}");
            reached = Math.Max(reached, step.End);
        }
        var last = (reached - row.Request.Start) / 1e6;
        output.WriteLine($"  {last,7:0.00} {(row.Request.End - reached) / 1e6,6:0.00}  (neither, to the answer)");
    }

    private static string Label(Span s)
    {
        if (s.Scope != "Npgsql") return $"HTTP {s.Attributes.GetValueOrDefault("http.request.method")} {s.Attributes.GetValueOrDefault("url.full")}";
        var sql = s.Attributes.GetValueOrDefault("db.query.text") ?? s.Attributes.GetValueOrDefault("db.statement") ?? s.Name;
        sql = string.Join(' ', sql.Split((char[])['\n', '\r', ' '], StringSplitOptions.RemoveEmptyEntries));
        return "SQL " + (sql.Length > 110 ? sql[..110] + "…" : sql);
    }

    private static long Union(IEnumerable<Span> spans)
    {
        long covered = 0, reached = long.MinValue;
        foreach (var s in spans.OrderBy(s => s.Start))
        {
            var from = Math.Max(s.Start, reached);
            if (s.End > from) covered += s.End - from;
            reached = Math.Max(reached, s.End);
        }
        return covered;
    }

    // ExportTraceServiceRequest { repeated ResourceSpans 1 } → ResourceSpans { repeated ScopeSpans 2 } →
    // ScopeSpans { InstrumentationScope 1 { name 1 }, repeated Span 2 }.
    private void Read(byte[] request)
    {
        foreach (var (field, resource) in Fields(request))
        {
            if (field != 1) continue;
            foreach (var (f2, scopeSpans) in Fields(resource.ToArray()))
            {
                if (f2 != 2) continue;
                var scope = "";
                var spans = new List<byte[]>();
                foreach (var (f3, value) in Fields(scopeSpans.ToArray()))
                {
                    if (f3 == 1) scope = Fields(value.ToArray()).Where(x => x.Field == 1).Select(x => Text(x.Value)).FirstOrDefault() ?? "";
                    if (f3 == 2) spans.Add(value.ToArray());
                }
                foreach (var span in spans) _spans.Enqueue(ReadSpan(span, scope));
            }
        }
    }

    private static Span ReadSpan(byte[] span, string scope)
    {
        string trace = "", id = "", parent = "", name = "";
        int kind = 0;
        long start = 0, end = 0;
        var attributes = new Dictionary<string, string>();
        var links = new List<(string, string)>();
        foreach (var (field, value) in Fields(span))
        {
            switch (field)
            {
                case 1: trace = Convert.ToHexString(value.Span); break;
                case 2: id = Convert.ToHexString(value.Span); break;
                case 4: parent = Convert.ToHexString(value.Span); break;
                case 5: name = Text(value); break;
                case 6: kind = (int)Varint(value.Span); break;
                case 7: start = BitConverter.ToInt64(value.Span); break;
                case 8: end = BitConverter.ToInt64(value.Span); break;
                case 9:
                    var kv = Fields(value.ToArray()).ToList();
                    var key = kv.Where(x => x.Field == 1).Select(x => Text(x.Value)).FirstOrDefault() ?? "";
                    var any = kv.Where(x => x.Field == 2).Select(x => Fields(x.Value.ToArray()).FirstOrDefault()).FirstOrDefault();
                    attributes[key] = any.Field switch
                    {
                        1 => Text(any.Value),
                        3 => ((long)Varint(any.Value.Span)).ToString(CultureInfo.InvariantCulture),
                        _ => "",
                    };
                    break;
                case 13:
                    var link = Fields(value.ToArray()).ToList();
                    links.Add((Convert.ToHexString(link.First(x => x.Field == 1).Value.Span),
                        Convert.ToHexString(link.First(x => x.Field == 2).Value.Span)));
                    break;
            }
        }
        return new Span(trace, id, parent, name, kind, scope, start, end, attributes, links);
    }

    private static string Text(ReadOnlyMemory<byte> value) => System.Text.Encoding.UTF8.GetString(value.Span);

    /// <summary>The protobuf wire format's fields; a varint's or a fixed number's bytes come back as its value's bytes.</summary>
    private static IEnumerable<(int Field, ReadOnlyMemory<byte> Value)> Fields(byte[] message)
    {
        var at = 0;
        while (at < message.Length)
        {
            var tag = ReadVarint(message, ref at);
            var (field, wire) = ((int)(tag >> 3), (int)(tag & 7));
            switch (wire)
            {
                case 0:
                    var from = at;
                    ReadVarint(message, ref at);
                    yield return (field, message.AsMemory(from, at - from));
                    break;
                case 1: yield return (field, message.AsMemory(at, 8)); at += 8; break;
                case 2:
                    var length = (int)ReadVarint(message, ref at);
                    yield return (field, message.AsMemory(at, length));
                    at += length;
                    break;
                case 5: yield return (field, message.AsMemory(at, 4)); at += 4; break;
                default: throw new InvalidDataException($"Unexpected protobuf wire type {wire}.");
            }
        }
    }

    private static ulong Varint(ReadOnlySpan<byte> bytes)
    {
        ulong value = 0;
        for (var i = 0; i < bytes.Length; i++) value |= (ulong)(bytes[i] & 0x7F) << (7 * i);
        return value;
    }

    private static ulong ReadVarint(byte[] message, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = message[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
    }
}
