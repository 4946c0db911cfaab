using System.Text.Json.Nodes;

namespace Loyalty.Sandbox;

/// <summary>
/// Code discounts: created one code at a time (the app's coupons) or in bulk (campaigns), looked up by code, listed,
/// updated, deactivated and deleted; and what a checkout does with a code. Deleted discounts stay in the record.
/// </summary>
public sealed partial class ShopifySimulator
{
    public sealed class Discount
    {
        public required string Id { get; init; }
        public required string Title { get; set; }
        public string Status { get; set; } = "ACTIVE";
        public int? UsageLimit { get; set; }
        public string? EndsAt { get; set; }
        /// <summary>The discount as it stands: its create input with every later update applied.</summary>
        public JsonNode? Input { get; set; }
        public List<string> Codes { get; } = [];

        /// <summary>Orders that used it, counted as Shopify counts <c>asyncUsageCount</c>.</summary>
        public int UsageCount { get; set; }

        /// <summary>Deleted discounts stay in the record (ground truth for orphans), but nothing finds them.</summary>
        public bool Deleted { get; set; }

        public DateTimeOffset CreatedAt { get; init; } = DateTimeOffset.UtcNow;
    }

    /// <summary>The live discounts.</summary>
    public IReadOnlyList<Discount> Discounts()
    {
        lock (_gate) return [.. _discounts.Values.Where(d => !d.Deleted)];
    }

    /// <summary>Every discount ever created, deleted ones included.</summary>
    public IReadOnlyList<Discount> AllDiscounts()
    {
        lock (_gate) return [.. _discounts.Values];
    }

    /// <summary>
    /// An order pays with <paramref name="code"/>, as checkout would allow it: the discount is live, not past its usage
    /// limit, and open to <paramref name="customerId"/> (listed, or in one of its customer segments
    /// now). Counts the use and returns true; false when checkout would refuse.
    /// </summary>
    public bool Redeem(string code, long customerId)
    {
        lock (_gate)
        {
            if (!_codeIndex.TryGetValue(code, out var id) || _discounts[id] is not { Deleted: false, Status: "ACTIVE" } d) return false;
            if (d.UsageLimit is { } limit && d.UsageCount >= limit) return false;
            var customers = d.Input?["context"]?["customers"]?["add"]?.AsArray().Select(n => n!.GetValue<string>()).ToList();
            if (customers is { Count: > 0 } && !customers.Contains($"gid://shopify/Customer/{customerId}")) return false;
            var segments = d.Input?["context"]?["customerSegments"]?["add"]?.AsArray().Select(n => n!.GetValue<string>()).ToList();
            if (segments is { Count: > 0 } && !segments.Any(s => IsMember(s, customerId))) return false;
            d.UsageCount++;
            return true;
        }
    }

    public Discount? DiscountWithCode(string code)
    {
        lock (_gate) return _codeIndex.TryGetValue(code, out var id) && !_discounts[id].Deleted ? _discounts[id] : null;
    }

    private object CreateLoyaltyCode(string shop, JsonObject v)
    {
        var input = v["input"]!;
        var code = input["code"]!.GetValue<string>();
        if (input["context"]?["customerSegments"]?["add"]?.AsArray().Select(n => n!.GetValue<string>())
                .FirstOrDefault(s => !_segments.TryGetValue(s, out var known) || known.Shop != shop) is { } unknown)
        {
            return new { discountCodeBasicCreate = new { codeDiscountNode = (object?)null,
                userErrors = Errors(("INVALID", $"Customer segment {unknown} does not exist.")) } };
        }
        if (_codeIndex.ContainsKey(code) || _creating.Contains(code) && CreateLatency == TimeSpan.Zero)
        {
            return new { discountCodeBasicCreate = new { codeDiscountNode = (object?)null, userErrors = Errors(("TAKEN", "Code must be unique.")) } };
        }
        var d = new Discount
        {
            Id = NewId("DiscountCodeNode"), CreatedAt = DateTimeOffset.UtcNow, Title = input["title"]!.GetValue<string>(), Input = input.DeepClone(),
            UsageLimit = input["usageLimit"]?.GetValue<int?>(), EndsAt = input["endsAt"]?.GetValue<string>(),
        };
        d.Codes.Add(code);
        _discounts[d.Id] = d;
        _codeIndex[code] = d.Id;
        return new { discountCodeBasicCreate = new { codeDiscountNode = new { id = d.Id }, userErrors = Array.Empty<object>() } };
    }

    private object DeleteLoyaltyCode(string shop, JsonObject v)
    {
        var id = v["id"]!.GetValue<string>();
        if (!_discounts.TryGetValue(id, out var d) || d.Deleted)
        {
            return new { discountCodeDelete = new { deletedCodeDiscountId = (string?)null,
                userErrors = Errors(("INVALID", "Discount does not exist")) } };
        }
        d.Deleted = true;
        foreach (var c in d.Codes) _codeIndex.Remove(c);
        return new { discountCodeDelete = new { deletedCodeDiscountId = (string?)id, userErrors = Array.Empty<object>() } };
    }

    private object FindLoyaltyCode(string shop, JsonObject v)
    {
        return _codeIndex.TryGetValue(v["code"]!.GetValue<string>(), out var id) && _discounts[id] is { Deleted: false } d
            ? new { codeDiscountNodeByCode = (object?)new { id, codeDiscount = new { title = d.Title, status = d.Status,
                asyncUsageCount = d.UsageCount, usageLimit = d.UsageLimit } } }
            : new { codeDiscountNodeByCode = (object?)null };
    }

    private object AddCampaignCodes(string shop, JsonObject v)
    {
        var d = _discounts[v["discountId"]!.GetValue<string>()];
        var bulkId = NewId("DiscountRedeemCodeBulkCreation");
        var failures = new List<JsonObject>();
        foreach (var node in v["codes"]!.AsArray())
        {
            var code = node!["code"]!.GetValue<string>();
            if (_codeIndex.ContainsKey(code))
            {
                failures.Add(new JsonObject { ["code"] = code, ["errors"] = new JsonArray(
                    new JsonObject { ["code"] = "TAKEN", ["message"] = "Code must be unique." }) });
                continue;
            }
            d.Codes.Add(code);
            _codeIndex[code] = d.Id;
        }
        _bulkFailures[bulkId] = failures;
        return new { discountRedeemCodeBulkAdd = new { bulkCreation = new { id = bulkId }, userErrors = Array.Empty<object>() } };
    }

    private object CampaignCodesStatus(string shop, JsonObject v)
    {
        var failures = _bulkFailures[v["id"]!.GetValue<string>()];
        return new
        {
            discountRedeemCodeBulkCreation = new
            {
                done = true, importedCount = 0, failedCount = failures.Count,
                codes = new { pageInfo = new { hasNextPage = false, endCursor = (string?)null }, nodes = failures },
            },
        };
    }

    /// <summary>
    /// <c>discountCodeBasicUpdate</c>: each field given replaces the discount's; <c>context.customers</c> adds to and removes from
    /// the current list, <c>context.all</c> opens it to everyone; a minimum requirement whose subtotal and quantity are null is removed.
    /// </summary>
    private object UpdateCampaign(string shop, JsonObject v)
    {
        if (!_discounts.TryGetValue(v["id"]!.GetValue<string>(), out var d) || d.Deleted)
        {
            return new { discountCodeBasicUpdate = new { codeDiscountNode = (object?)null,
                userErrors = Errors(("INVALID", "Discount does not exist")) } };
        }
        if (v["input"]?["context"]?["customerSegments"]?["add"]?.AsArray().Select(n => n!.GetValue<string>())
                .FirstOrDefault(s => !_segments.TryGetValue(s, out var known) || known.Shop != shop) is { } unknown)
        {
            return new { discountCodeBasicUpdate = new { codeDiscountNode = (object?)null,
                userErrors = Errors(("INVALID", $"Customer segment {unknown} does not exist.")) } };
        }
        var input = (JsonObject)v["input"]!;
        var merged = (JsonObject)(d.Input?.DeepClone() ?? new JsonObject());
        foreach (var (key, value) in input)
        {
            if (key == "context" && value?["customerSegments"] is JsonObject moved)
            {
                static IEnumerable<string> Ids(JsonNode? list) => list?.AsArray().Select(n => n!.GetValue<string>()) ?? [];
                var now = Ids(merged["context"]?["customerSegments"]?["add"]).Union(Ids(moved["add"])).Except(Ids(moved["remove"])).ToList();
                merged["context"] = new JsonObject
                {
                    ["customerSegments"] = new JsonObject { ["add"] = new JsonArray([.. now.Select(id => (JsonNode)id)]) },
                };
            }
            else if (key == "context" && value?["customers"] is JsonObject change)
            {
                static IEnumerable<string> Ids(JsonNode? list) => list?.AsArray().Select(n => n!.GetValue<string>()) ?? [];
                var now = Ids(merged["context"]?["customers"]?["add"]).Union(Ids(change["add"])).Except(Ids(change["remove"])).ToList();
                merged["context"] = now.Count == 0 ? new JsonObject { ["all"] = "ALL" }
                    : new JsonObject { ["customers"] = new JsonObject { ["add"] = new JsonArray([.. now.Select(id => (JsonNode)id)]) } };
            }
            else if (key == "minimumRequirement" && value?["subtotal"]?["greaterThanOrEqualToSubtotal"] is null
                     && value?["quantity"]?["greaterThanOrEqualToQuantity"] is null)
            {
                merged["minimumRequirement"] = null;
            }
            else
            {
                merged[key] = value?.DeepClone();
            }
        }
        d.Input = merged;
        d.Title = input["title"]?.GetValue<string>() ?? d.Title;
        if (input.ContainsKey("usageLimit")) d.UsageLimit = input["usageLimit"]?.GetValue<int?>();
        if (input.ContainsKey("endsAt")) d.EndsAt = input["endsAt"]?.GetValue<string>();
        return new { discountCodeBasicUpdate = new { codeDiscountNode = new { id = d.Id }, userErrors = Array.Empty<object>() } };
    }

    private object DeactivateCampaign(string shop, JsonObject v)
    {
        if (!_discounts.TryGetValue(v["id"]!.GetValue<string>(), out var gone) || gone.Deleted)
        {
            return new { discountCodeDeactivate = new { codeDiscountNode = (object?)null,
                userErrors = Errors(("INVALID", "Discount does not exist")) } };
        }
        _discounts[v["id"]!.GetValue<string>()].Status = "EXPIRED";
        return new { discountCodeDeactivate = new { codeDiscountNode = new { id = v["id"]!.GetValue<string>() },
            userErrors = Array.Empty<object>() } };
    }

    /// <summary>
    /// <c>codeDiscountNodes(first, after, query)</c>: live discounts, oldest first; a <c>title:'…'</c> term of the query
    /// keeps those whose title contains the phrase. The cursor names the last discount of the page.
    /// </summary>
    private object DiscountsPage(JsonObject v)
    {
        var match = System.Text.RegularExpressions.Regex.Match(v["query"]?.GetValue<string>() ?? "", @"title:'([^']*)'");
        var first = v["first"]?.GetValue<int>() ?? 50;
        static long Number(string gid) => long.Parse(gid[(gid.LastIndexOf('/') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var after = v["after"]?.GetValue<string>() is { } cursor ? Number(cursor) : 0; // still valid when that discount is deleted meanwhile
        var live = _discounts.Values.Where(d => !d.Deleted && (!match.Success
            || d.Title.Contains(match.Groups[1].Value, StringComparison.OrdinalIgnoreCase)))
            .OrderBy(d => Number(d.Id)).ToList();
        var start = live.FindIndex(d => Number(d.Id) > after);
        if (start < 0) start = live.Count;
        var page = live.Skip(start).Take(first).ToList();
        return new
        {
            codeDiscountNodes = new
            {
                pageInfo = new { hasNextPage = start + page.Count < live.Count, endCursor = page.Count > 0 ? page[^1].Id : null },
                nodes = page.Select(d => new
                {
                    id = d.Id,
                    codeDiscount = new { title = d.Title, status = d.Status, asyncUsageCount = d.UsageCount,
                        codes = new { nodes = d.Codes.Take(1).Select(c => new { code = c }) } },
                }),
            },
        };
    }

    /// <summary>
    /// Tampering for the soak's broken variants: deletes the live discount with <paramref name="code"/> as someone outside
    /// the app would (it stays in <see cref="AllDiscounts"/>, deleted). False when no live discount has the code.
    /// </summary>
    public bool DeleteDiscountWithCode(string code)
    {
        lock (_gate)
        {
            if (!_codeIndex.TryGetValue(code, out var id) || _discounts[id].Deleted) return false;
            var d = _discounts[id];
            d.Deleted = true;
            foreach (var c in d.Codes) _codeIndex.Remove(c);
            return true;
        }
    }

    /// <summary>
    /// Tampering for the soak's broken variants: a second live discount with the same title and input as the one with
    /// <paramref name="code"/>, under <paramref name="newCode"/>, as a driver without a fence could leave behind. Null when
    /// there is no live discount with <paramref name="code"/> or <paramref name="newCode"/> is taken.
    /// </summary>
    public Discount? DuplicateDiscount(string code, string newCode)
    {
        lock (_gate)
        {
            if (!_codeIndex.TryGetValue(code, out var id) || _discounts[id] is not { Deleted: false } original
                || _codeIndex.ContainsKey(newCode)) return null;
            var copy = new Discount
            {
                Id = $"gid://shopify/DiscountCodeNode/{++_ids}", Title = original.Title, Input = original.Input?.DeepClone(),
                UsageLimit = original.UsageLimit, EndsAt = original.EndsAt,
            };
            copy.Codes.Add(newCode);
            _discounts[copy.Id] = copy;
            _codeIndex[newCode] = copy.Id;
            return copy;
        }
    }
}
