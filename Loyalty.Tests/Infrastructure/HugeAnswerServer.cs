using System.Net.Sockets;

namespace Loyalty.Tests.Infrastructure;

/// <summary>
/// An HTTP server on a real local socket that answers every request with a huge body, generated as it is sent
/// (nothing of it is held in memory): chunked, or with a Content-Length that says how huge. <see cref="BytesSent"/>
/// tells how much of it a client actually took before it hung up.
/// </summary>
public sealed class HugeAnswerServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _status;
    private readonly long _bodyBytes;
    private readonly bool _declareLength;
    private readonly CancellationTokenSource _stop = new();
    private long _sent;
    private int _requests;

    /// <param name="declareLength">Send <c>Content-Length: bodyBytes</c> rather than chunks without a length.</param>
    public HugeAnswerServer(int status = 200, long bodyBytes = 100L * 1024 * 1024, bool declareLength = false)
    {
        (_status, _bodyBytes, _declareLength) = (status, bodyBytes, declareLength);
        _listener.Start();
        _ = Task.Run(AcceptAsync);
    }

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Body bytes written to clients so far, over all requests.</summary>
    public long BytesSent => Interlocked.Read(ref _sent);

    public int Requests => Volatile.Read(ref _requests);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = Task.Run(() => AnswerAsync(client));
        }
    }

    private async Task AnswerAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                await ReadRequestAsync(stream);
                Interlocked.Increment(ref _requests);
                var head = $"HTTP/1.1 {_status} Answer\r\nContent-Type: application/json\r\nConnection: close\r\n"
                           + (_declareLength ? $"Content-Length: {_bodyBytes}\r\n\r\n" : "Transfer-Encoding: chunked\r\n\r\n");
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head), _stop.Token);
                var chunk = new byte[64 * 1024];
                Array.Fill(chunk, (byte)'x');
                chunk[0] = (byte)'[';
                for (long left = _bodyBytes; left > 0; left -= chunk.Length)
                {
                    var n = (int)Math.Min(chunk.Length, left);
                    if (!_declareLength) await stream.WriteAsync(Encoding.ASCII.GetBytes($"{n:x}\r\n"), _stop.Token);
                    await stream.WriteAsync(chunk.AsMemory(0, n), _stop.Token);
                    if (!_declareLength) await stream.WriteAsync("\r\n"u8.ToArray(), _stop.Token);
                    Interlocked.Add(ref _sent, n);
                    chunk[0] = (byte)'x';
                }
                if (!_declareLength) await stream.WriteAsync("0\r\n\r\n"u8.ToArray(), _stop.Token);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // the client hung up: what this server is for
            }
        }
    }

    /// <summary>Reads one request whole (headers, then a body by Content-Length or chunks), so closing never resets it.</summary>
    private async Task ReadRequestAsync(NetworkStream stream)
    {
        var buffer = new List<byte>();
        var chunk = new byte[8192];
        while (true)
        {
            var read = await stream.ReadAsync(chunk, _stop.Token);
            if (read == 0) throw new IOException("closed before a whole request");
            buffer.AddRange(chunk.AsSpan(0, read).ToArray());
            var text = Encoding.ASCII.GetString(buffer.ToArray());
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0) continue;
            var length = System.Text.RegularExpressions.Regex.Match(text[..end], "(?i)content-length: *([0-9]+)");
            var chunked = text[..end].Contains("chunked", StringComparison.OrdinalIgnoreCase);
            if (length.Success ? buffer.Count >= end + 4 + int.Parse(length.Groups[1].Value)
                : !chunked || text.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal))
            {
                return;
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }
}
