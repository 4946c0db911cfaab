namespace Loyalty.ShopifyApp.Infrastructure.Http;

/// <summary>
/// What an endpoint tells the OpenAPI document beside its <c>Map</c> call: the problem codes it answers with, and examples of
/// its request and answers. <see cref="ApiDescription"/> writes them in; ApiDescription*Tests hold the codes to the source
/// and the examples to the schemas. A route group declares once what its filters and middleware answer for every endpoint.
/// </summary>
public static class ApiDeclarations
{
    /// <summary>
    /// The stable <c>code</c>s of the problem details an endpoint answers with at <paramref name="Status"/>. <paramref name="Others"/>
    /// says what else the code may be when the set is open (a code another system chose, such as the POS's own error).
    /// </summary>
    public sealed record ProblemAnswers(int Status, IReadOnlyList<string> Codes, string? Others = null);

    /// <summary>An example JSON body: the request's when <paramref name="Status"/> is null, else the answer's at that status.</summary>
    public sealed record ApiExample(int? Status, object Value);

    /// <summary>The endpoint (or every endpoint of the group) may answer <paramref name="status"/> with these problem codes.</summary>
    public static TBuilder ProblemCodes<TBuilder>(this TBuilder builder, int status, params string[] codes)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(new ProblemAnswers(status, codes));

    /// <summary>As <see cref="ProblemCodes{TBuilder}"/>, for a status whose code may also be one of <paramref name="others"/>.</summary>
    public static TBuilder OpenProblemCodes<TBuilder>(this TBuilder builder, int status, string others, params string[] codes)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(new ProblemAnswers(status, codes, others));

    /// <summary>An example of the request body, serialized as the endpoint would read it.</summary>
    public static TBuilder RequestExample<TBuilder>(this TBuilder builder, object example)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(new ApiExample(null, example));

    /// <summary>An example of the JSON answer at <paramref name="status"/>, serialized as the endpoint would write it.</summary>
    public static TBuilder ResponseExample<TBuilder>(this TBuilder builder, int status, object example)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(new ApiExample(status, example));
}
