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
                    catch (Exception e) when (e is SocketException or IOException or InvalidDataException)
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

    /// <summary>
    /// Reads one answer: its status and whether the connection stays open. Interim (1xx) answers are passed over; the body is
    /// read by its Content-Length or its chunks. Anything the sender cannot account for byte for byte (no length, bytes after the
    /// answer, a malformed line) is an <see cref="InvalidDataException"/>: counted as an error, and the connection opened again.
    /// </summary>
    private static async Task<(int Status, bool KeepAlive)> ReadResponseAsync(Socket socket, byte[] buffer, CancellationToken ct)
    {
        var filled = 0;
        var start = 0; // where the answer being read begins (after any interim ones)
        while (true)
        {
            int headerEnd;
            while ((headerEnd = IndexOf(buffer, start, filled, "\r\n\r\n"u8)) < 0) filled += await ReceiveAsync(socket, buffer, filled, ct);
            var lines = Encoding.ASCII.GetString(buffer, start, headerEnd - start).Split("\r\n");
            var statusLine = lines[0].Split(' ');
            if (statusLine.Length < 2 || !int.TryParse(statusLine[1], CultureInfo.InvariantCulture, out var status))
            {
                throw new InvalidDataException($"Not a status line: {lines[0]}");
            }
            var bodyStart = headerEnd + 4;
            if (status is >= 100 and < 200)
            {
                start = bodyStart;
                continue;
            }
            int? length = null;
            var (chunked, keepAlive) = (false, true);
            foreach (var line in lines.Skip(1))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon <= 0) throw new InvalidDataException($"Not a header line: {line}");
                var (name, value) = (line[..colon].Trim(), line[(colon + 1)..].Trim());
                if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    length = int.TryParse(value, CultureInfo.InvariantCulture, out var parsed)
                        ? parsed
                        : throw new InvalidDataException($"Content-Length {value}");
                }
                if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
                {
                    chunked = value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
                }
                if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
                {
                    keepAlive = !value.Equals("close", StringComparison.OrdinalIgnoreCase);
                }
            }
            int end;
            if (chunked)
            {
                end = bodyStart;
                while (true) // each chunk: its size in hex, CRLF, the data, CRLF; the last is 0 with optional trailers and an empty line
                {
                    int lineEnd;
                    while ((lineEnd = IndexOf(buffer, end, filled, "\r\n"u8)) < 0) filled += await ReceiveAsync(socket, buffer, filled, ct);
                    var sizeText = Encoding.ASCII.GetString(buffer, end, lineEnd - end).Split(';')[0].Trim();
                    if (!int.TryParse(sizeText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size) || size < 0)
                    {
                        throw new InvalidDataException($"Not a chunk size: {sizeText}");
                    }
                    if (size == 0)
                    {
                        // The size line's CRLF, any trailer lines, the empty line: the first CRLF CRLF from the size line's end.
                        int last;
                        while ((last = IndexOf(buffer, lineEnd, filled, "\r\n\r\n"u8)) < 0) filled += await ReceiveAsync(socket, buffer, filled, ct);
                        end = last + 4;
                        break;
                    }
                    end = lineEnd + 2 + size + 2;
                    while (filled < end) filled += await ReceiveAsync(socket, buffer, filled, ct);
                }
            }
            else if (length is { } bodyLength)
            {
                end = bodyStart + bodyLength;
                while (filled < end) filled += await ReceiveAsync(socket, buffer, filled, ct);
            }
            else
            {
                throw new InvalidDataException($"An answer ({status}) with neither Content-Length nor chunks: its end cannot be known.");
            }
            // One request in flight per connection: nothing may follow its answer.
            if (filled != end) throw new InvalidDataException($"{filled - end} bytes after the answer.");
            return (status, keepAlive);
        }
    }

    private static int IndexOf(byte[] buffer, int from, int filled, ReadOnlySpan<byte> value)
    {
        var at = buffer.AsSpan(from, filled - from).IndexOf(value);
        return at < 0 ? -1 : from + at;
    }

    private static async Task<int> ReceiveAsync(Socket socket, byte[] buffer, int filled, CancellationToken ct)
    {
        if (filled == buffer.Length) throw new IOException("An answer larger than the sender's buffer.");
        var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, ct);
        return read > 0 ? read : throw new IOException("The server closed the connection.");
    }
}
