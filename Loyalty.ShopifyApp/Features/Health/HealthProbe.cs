namespace Loyalty.ShopifyApp.Features.Health;

/// <summary>
/// <c>dotnet Loyalty.ShopifyApp.dll healthcheck [url]</c>: asks the running instance's <c>/health/ready</c> and exits 0
/// when it answers 200, 1 otherwise. The container image's HEALTHCHECK, which has no curl to call.
/// The default URL is this machine's first <c>ASPNETCORE_HTTP_PORTS</c> port (8080 when unset).
/// </summary>
public static class HealthProbe
{
    public static async Task<int> RunAsync(string[] args)
    {
        var port = (Environment.GetEnvironmentVariable("ASPNETCORE_HTTP_PORTS") ?? "8080").Split([',', ';'])[0].Trim();
        var url = args.Length > 1 ? args[1] : $"http://127.0.0.1:{port}/health/ready";
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await http.GetAsync(url);
            Console.WriteLine($"{url}: {(int)response.StatusCode}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            Console.WriteLine($"{url}: {e.Message}");
            return 1;
        }
    }
}
