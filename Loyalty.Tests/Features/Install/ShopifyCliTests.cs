using System.Diagnostics;
using Loyalty.ShopifyApp.Sandbox;

namespace Loyalty.Tests.Features.Install;

/// <summary>
/// <c>shopify app dev</c> runs the command of <c>shopify.web.toml</c> with the app's identity and a port in the
/// environment: the app must take all of them from there and listen on that port.
/// </summary>
public sealed class ShopifyCliTests
{
    [Fact]
    public void The_web_toml_declares_this_backend_and_its_dev_command()
    {
        var toml = File.ReadAllText(Path.Combine(NodeTools.RepoRoot, "shopify.web.toml"));
        Assert.Contains("roles = [\"backend\"]", toml);
        Assert.Contains("dev = \"dotnet run --project Loyalty.ShopifyApp\"", toml);
        Assert.True(File.Exists(Path.Combine(NodeTools.RepoRoot, "Loyalty.ShopifyApp", "Loyalty.ShopifyApp.csproj")));
    }

    [Fact]
    public async Task Started_as_the_CLI_starts_it_the_app_listens_on_the_CLI_s_port_with_the_CLI_s_identity()
    {
        var port = LocalPostgres.FreePort();
        var start = new ProcessStartInfo("dotnet", ["Loyalty.ShopifyApp.dll"])
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        start.Environment.Remove("ASPNETCORE_URLS");
        start.Environment["ConnectionStrings__Loyalty"] = await TestDatabase.CreateAsync();
        // What the CLI exports for a backend web process.
        start.Environment["SHOPIFY_API_KEY"] = "cli-client-id";
        start.Environment["SHOPIFY_API_SECRET"] = "cli-client-secret-0123456789abcdef";
        start.Environment["SCOPES"] = "read_orders,write_discounts";
        start.Environment["HOST"] = "https://tunnel-1234.trycloudflare.com";
        start.Environment["BACKEND_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        using var app = Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        app.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        app.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        app.BeginOutputReadLine();
        app.BeginErrorReadLine();
        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri($"http://localhost:{port}") };
        try
        {
            HttpResponseMessage? health = null;
            for (var i = 0; i < 120 && health?.StatusCode != HttpStatusCode.OK && !app.HasExited; i++)
            {
                try { health = await http.GetAsync("/health"); }
                catch (HttpRequestException) { await Task.Delay(500); }
            }
            Assert.True(health?.StatusCode == HttpStatusCode.OK, $"the app did not answer on the CLI's port {port}: {output}");

            // The code grant's redirect carries the CLI's client id, scopes and tunnel URL: no Shopify__* setting needed.
            var auth = await http.GetAsync("/auth?shop=cli-dev-store.myshopify.com");
            Assert.Equal(HttpStatusCode.Redirect, auth.StatusCode);
            var location = auth.Headers.Location!.ToString();
            Assert.StartsWith("https://cli-dev-store.myshopify.com/admin/oauth/authorize?client_id=cli-client-id&", location);
            Assert.Contains("scope=read_orders%2Cwrite_discounts", location);
            Assert.Contains("redirect_uri=https%3A%2F%2Ftunnel-1234.trycloudflare.com%2Fauth%2Fcallback", location);
            Assert.DoesNotContain("SANDBOX", output.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            app.Kill(entireProcessTree: true);
            await app.WaitForExitAsync();
        }
    }
}
