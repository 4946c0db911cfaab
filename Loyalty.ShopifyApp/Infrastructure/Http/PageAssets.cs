using System.Collections.Concurrent;

namespace Loyalty.ShopifyApp.Infrastructure.Http;

/// <summary>The pages' HTML, CSS and JS, embedded in the assembly next to the feature that serves them (see the csproj).</summary>
public static class PageAssets
{
    private static readonly ConcurrentDictionary<string, string> Cache = new();

    public static string Read(string name) => Cache.GetOrAdd(name, static n =>
    {
        using var stream = typeof(PageAssets).Assembly.GetManifestResourceStream("Pages." + n)
            ?? throw new InvalidOperationException($"Page asset {n} is not embedded.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });
}
