/**
 * The subset of OpenAPI v3 that PureLB's CRDs use. The same objects become the CRD YAML and
 * drive lib/validate/schema.ts, so offline validation checks exactly what the apiserver does.
 */
export interface Schema {
  type: "object" | "array" | "string" | "integer" | "boolean";
  /** Every field has one (tests/unit/crds.test.ts), except metadata, whose docs the apiserver supplies. */
  description?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema;
  items?: Schema;
  required?: string[];
  enum?: string[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  format?: "int64" | "int32" | "date-time";
  pattern?: string;
  default?: unknown;
}

type Extra = Partial<Omit<Schema, "type" | "description">>;

export const str = (description: string, extra: Extra = {}): Schema => ({
  type: "string",
  description,
  ...extra,
});
export const int = (description: string, extra: Extra = {}): Schema => ({
  type: "integer",
  description,
  ...extra,
});
export const bool = (description: string, extra: Extra = {}): Schema => ({
  type: "boolean",
  description,
  ...extra,
});
export const oneOf = (values: string[], description: string, extra: Extra = {}): Schema =>
  str(description, { enum: values, ...extra });
export const arr = (description: string, items: Schema, extra: Extra = {}): Schema => ({
  type: "array",
  description,
  items,
  ...extra,
});
export const obj = (
  description: string,
  properties: Record<string, Schema>,
  extra: Extra = {},
): Schema => ({ type: "object", description, properties, ...extra });
export const stringMap = (description: string): Schema => ({
  type: "object",
  description,
  additionalProperties: { type: "string", description: "A value." },
});

/** A standard Kubernetes label selector (metav1.LabelSelector). */
export const labelSelector = (description: string): Schema =>
  obj(description, {
    matchLabels: stringMap("Labels a node must have, all of them, with these values."),
    matchExpressions: arr(
      "Label requirements a node must meet, all of them.",
      obj(
        "One label requirement.",
        {
          key: str("The label key."),
          operator: oneOf(
            ["In", "NotIn", "Exists", "DoesNotExist"],
            "How the node's label relates to values.",
          ),
          values: arr(
            "Label values; required for In and NotIn, empty for Exists and DoesNotExist.",
            str("A label value."),
          ),
        },
        { required: ["key", "operator"] },
      ),
    ),
  });

/** A Go-style duration string; the webhook checks that it parses. */
export const duration = (description: string, extra: Extra = {}): Schema =>
  str(`${description} A duration such as "300s", "1m30s" or "1.5s".`, extra);

export const UINT32_MAX = 4294967295;

export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "boolean" | "date";
  jsonPath: string;
  description: string;
  priority?: number;
}

export interface CrdNames {
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories: string[];
}

/** A CustomResourceDefinition (apiextensions.k8s.io/v1) as plain data. */
export interface Crd {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string };
  spec: {
    group: string;
    names: CrdNames;
    scope: "Namespaced" | "Cluster";
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: Schema };
      subresources?: { status: Record<string, never> };
      additionalPrinterColumns?: PrinterColumn[];
    }[];
  };
}

/** Group, version, kind and plural: what a client needs to address the resource. */
export interface Gvk {
  group: string;
  version: string;
  kind: string;
  plural: string;
}

const apiVersion = str(
  "Versioned schema of this object, e.g. purelb.io/v2; the apiserver converts recognised schemas to the latest internal value.",
);
const kindField = str("The REST resource this object represents, in CamelCase, e.g. ServiceGroup.");
// The apiserver refuses anything but the type here.
const metadata: Schema = { type: "object" };

interface CrdInput {
  group: string;
  version: string;
  names: Omit<CrdNames, "listKind" | "singular" | "categories">;
  scope: "Namespaced" | "Cluster";
  description: string;
  spec?: Schema;
  status?: Schema;
  printerColumns: PrinterColumn[];
}

export function crd(input: CrdInput): Crd {
  const { group, version, names, scope } = input;
  const properties: Record<string, Schema> = { apiVersion, kind: kindField, metadata };
  if (input.spec) properties.spec = input.spec;
  if (input.status) properties.status = input.status;
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${names.plural}.${group}` },
    spec: {
      group,
      names: {
        kind: names.kind,
        listKind: `${names.kind}List`,
        plural: names.plural,
        singular: names.kind.toLowerCase(),
        shortNames: names.shortNames,
        categories: ["purelb"],
      },
      scope,
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: { type: "object", description: input.description, properties },
          },
          ...(input.status ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: [
            ...input.printerColumns,
            {
              name: "Age",
              type: "date",
              jsonPath: ".metadata.creationTimestamp",
              description: "Time since the object was created.",
            },
          ],
        },
      ],
    },
  };
}

export function gvkOf(c: Crd): Gvk {
  const v = c.spec.versions.find(x => x.storage)!;
  return {
    group: c.spec.group,
    version: v.name,
    kind: c.spec.names.kind,
    plural: c.spec.names.plural,
  };
}

export const schemaOf = (c: Crd): Schema =>
  c.spec.versions.find(x => x.storage)!.schema.openAPIV3Schema;
