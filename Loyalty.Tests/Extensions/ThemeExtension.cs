namespace Loyalty.Tests.Extensions;

/// <summary>The theme app extension's files as the tests read them (<c>extensions/loyalty-theme</c>).</summary>
internal static class ThemeExtension
{
    public static string Root { get; } = Path.Combine(NodeTools.RepoRoot, "extensions", "loyalty-theme");

    /// <summary>Every file of the extension, as paths relative to its root with forward slashes.</summary>
    public static IReadOnlyList<string> Files() => Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories)
        .Select(f => Path.GetRelativePath(Root, f).Replace('\\', '/'))
        .Order(StringComparer.Ordinal)
        .ToList();

    public static string Read(string relativePath) => File.ReadAllText(Path.Combine(Root, relativePath));

    /// <summary>The Liquid of the app blocks, app embeds and snippets.</summary>
    public static IEnumerable<string> LiquidFiles() => Files().Where(f => f.EndsWith(".liquid", StringComparison.Ordinal));

    /// <summary>The string at a dotted <paramref name="key"/> of a locale file, or null when there is none.</summary>
    public static string? Translation(string localeFile, string key)
    {
        using var json = JsonDocument.Parse(Read("locales/" + localeFile));
        var node = json.RootElement;
        foreach (var part in key.Split('.'))
        {
            if (node.ValueKind != JsonValueKind.Object || !node.TryGetProperty(part, out node)) return null;
        }
        return node.ValueKind == JsonValueKind.String ? node.GetString() : null;
    }

    /// <summary>Copies the extension to a fresh temporary directory (for tests that break it on purpose).</summary>
    public static string CopyToTemp()
    {
        var target = Path.Combine(Path.GetTempPath(), "loyalty-theme-" + Guid.NewGuid().ToString("N"));
        foreach (var file in Files())
        {
            var destination = Path.Combine(target, file);
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(Path.Combine(Root, file), destination);
        }
        return target;
    }
}
