using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Loyalty.Bench;

/// <summary>
/// A closed loop of HTTP/1.1 keep-alive connections writing requests rendered to bytes beforehand, as wrk does: per request
/// one write and the reads of its answer, nothing signed, built or parsed beyond the status line and the body's length.
/// HttpClient spent about 60 µs of CPU per request on the machine the bench shares with the server and PostgreSQL (about a
/// tenth of both cores in a burst of 5,000 a second), which the targets' own work then had to go without.
/// </summary>
public static class RawHttpSender
{
    /// <summary>The request as it goes on the wire: request line, its headers and its content's, the body.</summary>
    public static byte[] Render(HttpRequestMessage request)
    {
        var uri = request.RequestUri!;
        var body = request.Content?.ReadAsByteArrayAsync().GetAwaiter().GetResult() ?? [];
        var head = new StringBuilder($"{request.Method} {uri.PathAndQuery} HTTP/1.1\r\nHost: {uri.Authority}\r\n");
        foreach (var (name, values) in request.Headers) head.Append($"{name}: {string.Join(", ", values)}\r\n");
        if (request.Content is not null)
        {
            foreach (var (name, values) in request.Content.Headers)
            {
                if (!name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) head.Append($"{name}: {string.Join(", ", values)}\r\n");
            }
        }
        head.Append($"Content-Length: {body.Length}\r\n\r\n");
        return [.. Encoding.ASCII.GetBytes(head.ToString()), .. body];
    }

    /// <summary>
    /// Sends every request once, in order, through <paramref name="connections"/> connections to <paramref name="endpoint"/>'s host:
    /// each takes the next request when its last was answered. Latency is from the write to the answer's last byte; an answer
    /// other than 200 or a connection lost counts an error (the connection is opened again for the next request).
    /// </summary>
    public static async Task<(Stats Latency, int Errors)> SendAllAsync(Uri endpoint, IReadOnlyList<byte[]> requests, int connections,
        CancellationToken ct)
    {
        var stats = new Stats();
        var errors = 0;
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => Task.Run(async () =>
        {
            var buffer = new byte[16 * 1024];
            Socket? socket = null;
            try
            {
                for (var i = Interlocked.Increment(ref next); i < requests.Count; i = Interlocked.Increment(ref next))
                {
                    var started = Stopwatch.GetTimestamp();
                    try
                    {
                        socket ??= await ConnectAsync(endpoint, ct);
                        await socket.SendAsync(requests[i], SocketFlags.None, ct);
                        var (status, keepAlive) = await ReadResponseAsync(socket, buffer, ct);
                        stats.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                        if (status != 200) Interlocked.Increment(ref errors);
                        if (keepAlive) continue;
                    }
                    catch (Exception e) when (e is SocketException or IOException)
                    {
                        Interlocked.Increment(ref errors);
                    }
                    socket?.Dispose();
                    socket = null;
                }
            }
            finally
            {
                socket?.Dispose();
            }
        }, ct)));
        return (stats, errors);
    }

    private static async Task<Socket> ConnectAsync(Uri endpoint, CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint.Host, endpoint.Port, ct);
        return socket;
    }

    /// <summary>Reads one answer: its status and whether the connection stays open. Bodies by Content-Length or chunked.</summary>
    private static async Task<(int Status, bool KeepAlive)> ReadResponseAsync(Socket socket, byte[] buffer, CancellationToken ct)
    {
        var filled = 0;
        int headerEnd;
        while ((headerEnd = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0) filled += await ReceiveAsync(socket, buffer, filled, ct);
        var head = Encoding.ASCII.GetString(buffer, 0, headerEnd);
        var lines = head.Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], CultureInfo.InvariantCulture);
        var length = 0;
        var (chunked, keepAlive) = (false, true);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var (name, value) = (line[..colon].Trim(), line[(colon + 1)..].Trim());
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) length = int.Parse(value, CultureInfo.InvariantCulture);
            if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                chunked = value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
            }
            if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase)) keepAlive = !value.Equals("close", StringComparison.OrdinalIgnoreCase);
        }
        var bodyStart = headerEnd + 4;
        if (chunked)
        {
            // Small answers only: read until the last chunk's empty line.
            while (buffer.AsSpan(bodyStart, filled - bodyStart).IndexOf("0\r\n\r\n"u8) < 0) filled += await ReceiveAsync(socket, buffer, filled, ct);
        }
        else
        {
            while (filled - bodyStart < length) filled += await ReceiveAsync(socket, buffer, filled, ct);
        }
        return (status, keepAlive);
    }

    private static async Task<int> ReceiveAsync(Socket socket, byte[] buffer, int filled, CancellationToken ct)
    {
        if (filled == buffer.Length) throw new IOException("An answer larger than the sender's buffer.");
        var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, ct);
        return read > 0 ? read : throw new IOException("The server closed the connection.");
    }
}
