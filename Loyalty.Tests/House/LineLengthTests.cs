namespace Loyalty.Tests.House;

/// <summary>
/// Holds every C# file to the <c>max_line_length</c> of <c>.editorconfig</c>: the <c>[*.cs]</c> limit, or the one of a
/// section naming the file itself. The compiler does not check it, so this test does.
/// </summary>
public sealed class LineLengthTests
{
    [Fact]
    public void No_csharp_line_is_longer_than_the_editorconfig_limit()
    {
        var root = NodeTools.RepoRoot;
        var limits = MaxLineLengths(Path.Combine(root, ".editorconfig"));
        Assert.True(limits.ContainsKey("*.cs"), ".editorconfig has no max_line_length under [*.cs]");

        var tooLong = new List<string>();
        foreach (var file in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
            if (relative.Split('/').Any(part => part is "bin" or "obj" or ".git" or "node_modules")) continue;
            var limit = limits.GetValueOrDefault(relative, limits["*.cs"]);
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                if (lines[i].Length > limit) tooLong.Add($"{relative}:{i + 1} ({lines[i].Length} > {limit})");
            }
        }

        Assert.True(tooLong.Count == 0, $"{tooLong.Count} line(s) over the limit:{Environment.NewLine}{string.Join(Environment.NewLine, tooLong)}");
    }

    /// <summary>max_line_length by section name (<c>*.cs</c>, or a file's path from the repository root).</summary>
    private static Dictionary<string, int> MaxLineLengths(string editorconfig)
    {
        var limits = new Dictionary<string, int>(StringComparer.Ordinal);
        string? section = null;
        foreach (var raw in File.ReadAllLines(editorconfig))
        {
            var line = raw.Trim();
            if (line.StartsWith('[') && line.EndsWith(']')) section = line[1..^1];
            else if (section is not null && line.StartsWith("max_line_length", StringComparison.Ordinal))
            {
                limits[section] = int.Parse(line[(line.IndexOf('=') + 1)..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        return limits;
    }
}
