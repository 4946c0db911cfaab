using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Loyalty.Sandbox;

/// <summary>
/// The GraphQL Admin API documents the <see cref="ShopifySimulator"/> answers: <c>admin-operations.json</c>, every
/// document the app sends, each validated against Shopify's introspection of the API version by a test
/// (<c>Loyalty.Tests/Conformance</c>, with <c>tools/validate-graphql.mjs</c>), which also fails when the app sends a
/// document missing from it. Shopify refuses a document that does not validate; the simulator refuses one it does not
/// know to validate, so neither the sandbox nor the soak can come to depend on an operation Shopify would refuse.
/// Documents are compared by <see cref="Normalize"/>d text: layout and comments do not matter, the tokens do.
/// </summary>
public sealed partial class AdminOperations
{
    public const string ResourceName = "Loyalty.Sandbox.admin-operations.json";

    public sealed record Operation(string Name, string Document);

    private readonly HashSet<string> _documents;

    private AdminOperations(string apiVersion, IReadOnlyList<Operation> operations)
    {
        ApiVersion = apiVersion;
        Operations = operations;
        _documents = [.. operations.Select(o => Normalize(o.Document))];
    }

    private static readonly Lazy<AdminOperations> BuiltIn = new(Load);

    /// <summary>The list built into this assembly.</summary>
    public static AdminOperations Bundled => BuiltIn.Value;

    public string ApiVersion { get; }

    public IReadOnlyList<Operation> Operations { get; }

    public bool Allows(string document) => _documents.Contains(Normalize(document));

    private sealed record FileShape(string? About, string ApiVersion, List<Operation> Operations);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // a file for reviewers, never for HTML
    };

    public static AdminOperations Parse(string json)
    {
        var file = JsonSerializer.Deserialize<FileShape>(json, Json);
        return file is { ApiVersion: not null, Operations: not null }
            ? new AdminOperations(file.ApiVersion, file.Operations)
            : throw new InvalidDataException("admin-operations.json needs an apiVersion and an operations list.");
    }

    /// <summary>The file's text for these operations (what the conformance test writes when asked to regenerate it).</summary>
    public static string Serialize(string apiVersion, IEnumerable<Operation> operations) =>
        JsonSerializer.Serialize(new FileShape(
            "The GraphQL Admin API documents the app sends, normalised; the Shopify simulator answers only these. Written and checked against " +
            "Shopify's introspection by Loyalty.Tests/Conformance/SimulatorAllowListTests (LOYALTY_WRITE_ADMIN_OPERATIONS=1 rewrites it).",
            apiVersion,
            [.. operations.Select(o => o with { Document = Normalize(o.Document) }).OrderBy(o => o.Name, StringComparer.Ordinal)]), Json) + "\n";

    private static AdminOperations Load()
    {
        using var stream = typeof(AdminOperations).Assembly.GetManifestResourceStream(ResourceName)
                           ?? throw new InvalidOperationException(
                               $"{ResourceName} is not embedded in {typeof(AdminOperations).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return Parse(reader.ReadToEnd());
    }

    [GeneratedRegex(@"^\s*(query|mutation|subscription)\b\s*([_A-Za-z][_0-9A-Za-z]*)?\s*[({]")]
    private static partial Regex OperationStart();

    /// <summary>True for text that opens like a GraphQL operation (<c>query Name(…) {</c>, <c>mutation {</c>, …).</summary>
    public static bool LooksLikeOperation(string text) => OperationStart().IsMatch(text);

    /// <summary>The operation's name, or null for an anonymous one.</summary>
    public static string? OperationName(string document) =>
        OperationStart().Match(document) is { Success: true, Groups: var g } && g[2].Success ? g[2].Value : null;

    /// <summary>
    /// The document's tokens with what GraphQL ignores (white space, commas, comments) left out, and a single space only where
    /// two names or numbers would otherwise run together; strings are kept as written. Still a valid document.
    /// </summary>
    public static string Normalize(string document)
    {
        var text = new StringBuilder(document.Length);
        var separated = false;
        static bool Word(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';
        for (var i = 0; i < document.Length; i++)
        {
            var c = document[i];
            if (c == '#')
            {
                while (i + 1 < document.Length && document[i + 1] is not ('\n' or '\r')) i++;
                separated = true;
            }
            else if (char.IsWhiteSpace(c) || c is ',' or '\uFEFF')
            {
                separated = true;
            }
            else if (c == '"')
            {
                var end = StringEnd(document, i);
                text.Append(document, i, end - i);
                i = end - 1;
                separated = false;
            }
            else
            {
                if (separated && text.Length > 0 && Word(text[^1]) && Word(c)) text.Append(' ');
                text.Append(c);
                separated = false;
            }
        }
        return text.ToString();
    }

    /// <summary>The index just past the string or block string that opens at <paramref name="start"/>.</summary>
    private static int StringEnd(string s, int start)
    {
        if (string.CompareOrdinal(s, start, "\"\"\"", 0, 3) == 0)
        {
            for (var i = start + 3; i + 2 < s.Length; i++)
            {
                if (s[i] == '\\' && string.CompareOrdinal(s, i + 1, "\"\"\"", 0, 3) == 0) i += 3;
                else if (string.CompareOrdinal(s, i, "\"\"\"", 0, 3) == 0) return i + 3;
            }
            return s.Length;
        }
        for (var i = start + 1; i < s.Length; i++)
        {
            if (s[i] == '\\') i++;
            else if (s[i] == '"') return i + 1;
        }
        return s.Length;
    }
}
