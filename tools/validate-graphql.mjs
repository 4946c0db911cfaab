// Validates GraphQL Admin API operations against Shopify's own introspection of the API version, offline.
//
//   node validate-graphql.mjs [--api-version 2026-10] [operations.json]     (stdin when no file is given)
//
// Input: a JSON array of { "name": "...", "document": "query … { … }", "variables": { … } } (variables optional:
// without them only the document is checked). For each operation: parse, validate(schema, document) with graphql-js's
// standard rules, then coerce the variables with getVariableValues, as a GraphQL server does before executing. Shopify's
// own scalars (DateTime, Decimal, URL, …) are checked against what the schema's descriptions say they accept; a client
// schema alone would take anything for them.
//
// With variables, the operation's requested cost is worked out by Shopify's published model (shopify.dev, "API rate
// limits" → calculated query cost): a scalar or enum 0, an object 1, a connection 2 plus first/last × the cost of one of
// its nodes, a list field sized by first/last likewise, a union or interface the dearest of its fragments, a mutation
// 10. Shopify refuses a query that costs more than 1,000 (MAX_COST_EXCEEDED), so such an operation is invalid here too.
//
// Output: one JSON document, { schema, results: [{ name, valid, cost, errors: [..], deprecations: [..] }] }. Deprecated
// fields, arguments and enum values are reported, not failed. Exit 0 when every operation is valid, 1 when one is not, 2
// when the input cannot be read.

import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildClientSchema,
  getNamedType,
  getNullableType,
  getVariableValues,
  GraphQLList,
  GraphQLScalarType,
  isLeafType,
  Kind,
  NoDeprecatedCustomRule,
  parse,
  validate,
} from "graphql";

const here = dirname(fileURLToPath(import.meta.url));

function usage(message) {
  process.stderr.write(`${message}\nusage: node validate-graphql.mjs [--api-version YYYY-MM] [operations.json]\n`);
  process.exit(2);
}

let apiVersion = "2026-10";
let file = null;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--api-version") apiVersion = args[++i] ?? usage("--api-version needs a value");
  else if (args[i].startsWith("--")) usage(`unknown option ${args[i]}`);
  else file = args[i];
}

const introspectionPath = join(here, "node_modules", "@shopify", "dev-mcp", "dist", "data", `admin_${apiVersion}.json.gz`);
let introspection;
try {
  introspection = JSON.parse(gunzipSync(readFileSync(introspectionPath)).toString("utf8"));
} catch (e) {
  usage(`cannot read the Admin API ${apiVersion} introspection at ${introspectionPath}: ${e.message}`);
}

// ---- Shopify's custom scalars, as their descriptions in the schema define them --------------------------------------

const isoDate = /^\d{4}-\d{2}-\d{2}$/;
const isoDateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;
const decimal = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const digits = /^\d+$/;
const signedDigits = /^-?\d+$/;

function validDate(s) {
  return !Number.isNaN(Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s));
}

const scalarRules = {
  DateTime: { strings: true, check: (s) => isoDateTime.test(s) && validDate(s), what: 'an ISO 8601 date and time string ("2019-09-07T15:50:00Z")' },
  Date: { strings: true, check: (s) => isoDate.test(s) && validDate(s), what: 'an ISO 8601 date string ("2019-07-16")' },
  Decimal: { strings: true, numbers: true, check: (s) => decimal.test(s), what: 'a decimal number ("29.99")' },
  Money: { strings: true, numbers: true, check: (s) => decimal.test(s), what: 'a money amount without currency ("100.57")' },
  UnsignedInt64: { strings: true, integers: true, check: (s) => digits.test(s) && BigInt(s) < 2n ** 64n, what: 'an unsigned 64-bit integer as base-10 digits ("50")' },
  BigInt: { strings: true, integers: true, check: (s) => signedDigits.test(s), what: 'a whole number as a string ("50")' },
  URL: { strings: true, check: (s) => URL.canParse(s), what: 'an absolute URI ("https://example.myshopify.com")' },
  UtcOffset: { strings: true, check: (s) => /^[+-]\d{2}:\d{2}$/.test(s), what: 'a UTC offset ("-07:00")' },
  Color: { strings: true, check: (s) => /^#[0-9A-Fa-f]{6}$/.test(s), what: 'a hexadecimal colour ("#6A8D48")' },
};

function coerce(rule, name, value) {
  if (typeof value === "string" && rule.strings && rule.check(value)) return value;
  if (typeof value === "number" && Number.isFinite(value) && (rule.numbers || (rule.integers && Number.isInteger(value)))) return value;
  throw new TypeError(`${name} must be ${rule.what}; got ${JSON.stringify(value)}`);
}

function literal(rule, name, node) {
  if (node.kind === Kind.STRING) return coerce(rule, name, node.value);
  if (node.kind === Kind.INT || node.kind === Kind.FLOAT) return coerce(rule, name, Number(node.value));
  throw new TypeError(`${name} must be ${rule.what}; got a ${node.kind} literal`);
}

function withCheckedScalars(schema) {
  for (const type of Object.values(schema.getTypeMap())) {
    const rule = scalarRules[type.name];
    if (!(type instanceof GraphQLScalarType) || !rule) continue;
    type.parseValue = (value) => coerce(rule, type.name, value);
    type.parseLiteral = (node) => literal(rule, type.name, node);
  }
  return schema;
}

const schema = withCheckedScalars(buildClientSchema(introspection.data ?? introspection));

// ---- the operations ----------------------------------------------------------------------------------------------

let operations;
try {
  operations = JSON.parse(readFileSync(file ?? 0, "utf8"));
} catch (e) {
  usage(`cannot read the operations: ${e.message}`);
}
if (!Array.isArray(operations)) usage("the input must be a JSON array of { name, document, variables }");

// ---- Shopify's calculated query cost ------------------------------------------------------------------------------

const maxQueryCost = 1000;

function argumentValue(field, name, variables) {
  const arg = field.arguments?.find((a) => a.name.value === name);
  if (!arg) return null;
  if (arg.value.kind === Kind.VARIABLE) return variables[arg.value.name.value] ?? null;
  return arg.value.kind === Kind.INT ? Number(arg.value.value) : null;
}

function selectionCost(selectionSet, type, variables) {
  if (!selectionSet) return 0;
  let fields = 0;
  let fragments = 0; // a union or interface costs its dearest possible type
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      const on = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type;
      fragments = Math.max(fragments, selectionCost(selection.selectionSet, on, variables));
      continue;
    }
    if (selection.kind !== Kind.FIELD || selection.name.value.startsWith("__")) continue;
    const definition = type.getFields?.()[selection.name.value];
    if (!definition) continue;
    const named = getNamedType(definition.type);
    if (isLeafType(named)) continue;
    const size = argumentValue(selection, "first", variables) ?? argumentValue(selection, "last", variables);
    const child = selectionCost(selection.selectionSet, named, variables);
    if (named.name.endsWith("Connection")) {
      // The connection's nodes (or edges' nodes) are counted once per requested item; pageInfo is in the overhead.
      let perItem = 0;
      for (const part of selection.selectionSet?.selections ?? []) {
        if (part.kind !== Kind.FIELD) continue;
        const partType = getNamedType(named.getFields()[part.name.value]?.type);
        if (part.name.value === "nodes" || part.name.value === "edges") perItem += 1 + selectionCost(part.selectionSet, partType, variables);
      }
      fields += 2 + (size ?? 0) * perItem;
    } else if (getNullableType(definition.type) instanceof GraphQLList) {
      fields += (size ?? 1) * (1 + child);
    } else {
      fields += 1 + child;
    }
  }
  return fields + fragments;
}

function requestedCost(operation, variables) {
  if (operation.operation === "mutation") return 10;
  return selectionCost(operation.selectionSet, schema.getQueryType(), variables);
}

function describe(error) {
  const where = error.locations?.map((l) => `${l.line}:${l.column}`).join(", ");
  return where ? `${error.message} (at ${where})` : error.message;
}

function check(operation, index) {
  const name = operation?.name ?? `#${index}`;
  const result = { name, valid: false, cost: null, errors: [], deprecations: [] };
  if (typeof operation?.document !== "string") {
    result.errors.push("no document");
    return result;
  }
  let document;
  try {
    document = parse(operation.document);
  } catch (e) {
    result.errors.push(`syntax: ${describe(e)}`);
    return result;
  }
  result.errors.push(...validate(schema, document).map(describe));
  result.deprecations.push(...validate(schema, document, [NoDeprecatedCustomRule]).map(describe));

  // The app sends no operationName, so the document must hold exactly one operation.
  const definitions = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  if (definitions.length !== 1) {
    result.errors.push(`a document sent without operationName must hold exactly one operation; this one holds ${definitions.length}`);
  } else if (result.errors.length === 0 && "variables" in operation) {
    const variables = operation.variables ?? {};
    if (typeof variables !== "object" || Array.isArray(variables)) {
      result.errors.push("variables must be a JSON object");
    } else {
      // graphql-js ignores a variable the operation does not declare; for the app it means a value it meant to send
      // was dropped on the way (a renamed $after, say), so it fails here.
      const declared = new Set((definitions[0].variableDefinitions ?? []).map((v) => v.variable.name.value));
      for (const key of Object.keys(variables)) {
        if (!declared.has(key)) result.errors.push(`variables: $${key} is not declared by the operation`);
      }
      const coerced = getVariableValues(schema, definitions[0].variableDefinitions ?? [], variables, { maxErrors: 50 });
      if (coerced.errors) result.errors.push(...coerced.errors.map((e) => `variables: ${describe(e)}`));
      else {
        result.cost = requestedCost(definitions[0], coerced.coerced);
        if (result.cost > maxQueryCost) {
          result.errors.push(`MAX_COST_EXCEEDED: requested cost ${result.cost} is over Shopify's ${maxQueryCost} per query`);
        }
      }
    }
  }
  result.valid = result.errors.length === 0;
  return result;
}

const results = operations.map(check);
process.stdout.write(JSON.stringify({ schema: `admin ${apiVersion}`, results }, null, 2) + "\n");
process.exit(results.every((r) => r.valid) ? 0 : 1);
