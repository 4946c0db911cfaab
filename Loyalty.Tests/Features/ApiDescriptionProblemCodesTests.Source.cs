using System.Globalization;
using System.Text.RegularExpressions;

namespace Loyalty.Tests.Features;

/// <summary>Reading the app's source: which problem codes a file answers with, at which status when the call says.</summary>
public sealed partial class ApiDescriptionProblemCodesTests
{
    private static readonly string App = Path.Combine(NodeTools.RepoRoot, "Loyalty.ShopifyApp");

    /// <summary><c>Problems.NotFound("code", …)</c> and the like; the code may follow <c>x ??</c> as its fallback.</summary>
    [GeneratedRegex("""
        Problems\.(?<helper>BadRequest|Unauthorized|NotFound|Validation|Unavailable)\(\s*(?:[\w.]+\s*\?\?\s*)?"(?<code>[a-z][a-z0-9_]*)"(?=\s*[,)])
        """)]
    private static partial Regex NamedCall();

    /// <summary><c>Problems.Create(status, "code", …)</c>, the status a <c>StatusCodes</c> or <c>HttpStatusCode</c> constant or a variable.</summary>
    [GeneratedRegex("""Problems\.Create\(\s*(?<status>[^,"]+?)\s*,\s*(?:[\w.]+\s*\?\?\s*)?"(?<code>[a-z][a-z0-9_]*)"(?=\s*[,)])""")]
    private static partial Regex CreateCall();

    /// <summary>Helpers that make a problem: <c>StoredText.Problem("code", …)</c> takes the endpoint's code, the others have their own.</summary>
    [GeneratedRegex("""
        StoredText\.Problem\(\s*"(?<code>[a-z][a-z0-9_]*)"|(?<key>IdempotencyKey\.Required)\(|(?<period>ReportPeriod\.(?:Resolve|Invalid))\(
        """)]
    private static partial Regex HelperCall();

    /// <summary>The declarations themselves, left out when looking for the codes a feature's source mentions.</summary>
    [GeneratedRegex(@"\.(?:Open)?ProblemCodes\((?:[^()]|\([^()]*\))*\)")]
    private static partial Regex Declaration();

    private static readonly Dictionary<string, int> Fixed = new()
    {
        ["BadRequest"] = 400, ["Unauthorized"] = 401, ["NotFound"] = 404, ["Validation"] = 422, ["Unavailable"] = 503,
    };

    /// <summary>The (status, code) pairs <paramref name="source"/> answers with; a null status when the call's is a variable.</summary>
    private static IEnumerable<(int? Status, string Code)> Answered(string source)
    {
        foreach (Match m in NamedCall().Matches(source)) yield return (Fixed[m.Groups["helper"].Value], m.Groups["code"].Value);
        foreach (Match m in CreateCall().Matches(source)) yield return (Status(m.Groups["status"].Value), m.Groups["code"].Value);
        foreach (Match m in HelperCall().Matches(source))
        {
            if (m.Groups["key"].Success) yield return (400, "idempotency_key_required");
            else if (m.Groups["period"].Success) yield return (422, "invalid_period");
            else yield return (422, m.Groups["code"].Value);
        }
    }

    private static int? Status(string expression)
    {
        if (Regex.Match(expression, @"^StatusCodes\.Status(\d{3})\w*$") is { Success: true } constant)
        {
            return int.Parse(constant.Groups[1].Value, CultureInfo.InvariantCulture);
        }
        if (Regex.Match(expression, @"^\(int\)\s*HttpStatusCode\.(\w+)$") is { Success: true } named)
        {
            return (int)Enum.Parse<HttpStatusCode>(named.Groups[1].Value);
        }
        return null;
    }

    /// <summary>The source of a feature class: <c>Name.cs</c> and its parts <c>Name.*.cs</c>.</summary>
    private static string SourceOf(Type type)
    {
        var files = SourceFiles(type);
        Assert.True(files.Count > 0, $"no {type.Name}.cs under {App}");
        return string.Join(Environment.NewLine, files.Select(File.ReadAllText));
    }

    /// <summary>
    /// Whether a code the class's endpoints declare, but no <c>Problems</c> call of theirs makes, is found where a code is passed on:
    /// as a string in the class's own files or in files of its feature folder that map no endpoint (a saga's failure codes),
    /// or stored as an SQL literal (<c>'code'</c>) anywhere in the folder. The declarations themselves do not count.
    /// </summary>
    private static Func<string, bool> Mentions(Type type, HashSet<string> endpointFiles)
    {
        var own = SourceFiles(type);
        var folder = Directory.EnumerateFiles(Path.GetDirectoryName(own[0])!, "*.cs").ToList();
        var strings = string.Join(Environment.NewLine, folder.Where(f => own.Contains(f) || !endpointFiles.Contains(f))
            .Select(f => Declaration().Replace(File.ReadAllText(f), "")));
        var sql = string.Join(Environment.NewLine, folder.Select(File.ReadAllText));
        return code => strings.Contains($"\"{code}\"", StringComparison.Ordinal) || sql.Contains($"'{code}'", StringComparison.Ordinal);
    }

    private static List<string> SourceFiles(Type type) =>
        Directory.EnumerateFiles(App, $"{type.Name}*.cs", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f) == $"{type.Name}.cs" || Path.GetFileName(f).StartsWith($"{type.Name}.", StringComparison.Ordinal))
            .Where(f => !Path.GetRelativePath(App, f).Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj"))
            .Order(StringComparer.Ordinal)
            .ToList();

    private static string Read(string relative) => File.ReadAllText(Path.Combine(App, relative));
}
