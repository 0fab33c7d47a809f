// Helpers for the deploy tests: load multi-document YAML the way Kubernetes
// reads it, validate objects against the API schemas, and small pieces of
// Kubernetes semantics (quantities, node affinity, JSON merge patch).
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parseAllDocuments } from 'yaml';

export const REPO = new URL('../../', import.meta.url);
export const readRepoFile = (path: string): string => readFileSync(new URL(path, REPO), 'utf8');

// Loose shapes: the tests read plain parsed YAML, and the schema checks below
// are what guarantee the structure.
export type Obj = Record<string, any>;

/**
 * Every non-empty document of a multi-document YAML file, as plain objects.
 * Kubernetes reads manifests as YAML 1.1 (sigs.k8s.io/yaml), where `yes`, `on`,
 * `0755`... are not what YAML 1.2 makes of them: parse both ways and require the
 * same result, so no value depends on which parser reads the file.
 */
export function loadYamlDocuments(text: string, where: string): Obj[] {
  const parse = (version: '1.1' | '1.2'): unknown[] =>
    parseAllDocuments(text, { version, uniqueKeys: true, prettyErrors: true }).map((doc, i) => {
      const problems = [...doc.errors, ...doc.warnings];
      if (problems.length > 0) throw new Error(`${where}: document ${i + 1} (YAML ${version}): ${problems.map((e) => e.message).join('; ')}`);
      return doc.toJS();
    });
  const v11 = parse('1.1');
  const v12 = parse('1.2');
  if (JSON.stringify(v11) !== JSON.stringify(v12)) {
    throw new Error(`${where}: YAML 1.1 and 1.2 read the file differently; quote the ambiguous scalars`);
  }
  return v12.filter((d): d is Obj => d !== null && d !== undefined);
}

interface SchemaModel {
  new (data: any): { validate(): void };
}

/** The kubernetes-models class (OpenAPI schema) and client-node class (field list) of each kind. */
export const MODELS: Record<string, { schema: SchemaModel; fields: string }> = {
  'v1/Namespace': { schema: Namespace, fields: 'V1Namespace' },
  'v1/ServiceAccount': { schema: ServiceAccount, fields: 'V1ServiceAccount' },
  'v1/ConfigMap': { schema: ConfigMap, fields: 'V1ConfigMap' },
  'apps/v1/DaemonSet': { schema: DaemonSet, fields: 'V1DaemonSet' },
  'rbac.authorization.k8s.io/v1/ClusterRole': { schema: ClusterRole, fields: 'V1ClusterRole' },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { schema: ClusterRoleBinding, fields: 'V1ClusterRoleBinding' },
};

export const kindKey = (o: Obj): string => `${o['apiVersion']}/${o['kind']}`;

/**
 * Checks one object as the API server would: types, required fields and enums
 * from the OpenAPI schema (kubernetes-models' validate(), which throws), then
 * unknown fields (the schema allows them; the API server's strict field
 * validation, kubectl's default, rejects them). Throws on the first problem.
 */
export function validateObject(o: Obj): void {
  const model = MODELS[kindKey(o)];
  if (!model) throw new Error(`no model for ${kindKey(o)}: add it to MODELS in test/deploy/helpers.ts`);
  new model.schema(o).validate();
  const unknown = unknownFields(o, model.fields, kindKey(o));
  if (unknown.length > 0) throw new Error(`unknown fields: ${unknown.join(', ')}`);
}

interface Attribute {
  baseName: string;
  type: string;
}
type FieldModel = { getAttributeTypeMap(): Attribute[] };
const models = k8s as unknown as Record<string, FieldModel | undefined>;

/** Paths of the fields that the API type named `type` (a client-node model type) does not have. */
export function unknownFields(value: unknown, type: string, path: string): string[] {
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return Array.isArray(value) ? value.flatMap((v, i) => unknownFields(v, array[1]!, `${path}[${i}]`)) : [];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return typeof value === 'object' ? Object.entries(value).flatMap(([k, v]) => unknownFields(v, map[1]!, `${path}.${k}`)) : [];
  if (['string', 'number', 'boolean', 'Date', 'IntOrString', 'any', 'object'].includes(type)) return [];
  const model = models[type];
  if (!model || typeof model.getAttributeTypeMap !== 'function') throw new Error(`${path}: the strict field check does not know type ${type}`);
  if (typeof value !== 'object' || Array.isArray(value)) return [];
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return Object.entries(value).flatMap(([k, v]) => {
    const t = attributes.get(k);
    return t === undefined ? [`${path}.${k}`] : unknownFields(v, t, `${path}.${k}`);
  });
}

/** A Kubernetes quantity ("100m", "128Mi", "1G", "2") as a number of units. */
export function quantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) throw new Error(`"${q}" is not a quantity this test understands`);
  const scale: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  return Number(m[1]) * (m[2] ? scale[m[2]]! : 1);
}

/** Whether a pod template would be scheduled on a node with these labels (nodeSelector and required node affinity). */
export function schedulesOn(podSpec: Obj, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries((podSpec['nodeSelector'] ?? {}) as Record<string, string>)) {
    if (labels[k] !== v) return false;
  }
  const terms = podSpec['affinity']?.['nodeAffinity']?.['requiredDuringSchedulingIgnoredDuringExecution']?.['nodeSelectorTerms'] as Obj[] | undefined;
  if (terms === undefined) return true;
  // Terms are ORed, the expressions of a term ANDed.
  return terms.some((term) =>
    ((term['matchExpressions'] ?? []) as Obj[]).every((e) => {
      const has = Object.hasOwn(labels, e['key']);
      const values = (e['values'] ?? []) as string[];
      switch (e['operator']) {
        case 'In':
          return has && values.includes(labels[e['key']]!);
        case 'NotIn':
          return !has || !values.includes(labels[e['key']]!);
        case 'Exists':
          return has;
        case 'DoesNotExist':
          return !has;
        default:
          throw new Error(`node selector operator ${e['operator']} is not simulated`);
      }
    }),
  );
}

/** RFC 7386 JSON merge patch, what `kubectl patch --type=merge` applies. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const out: Obj = target !== null && typeof target === 'object' && !Array.isArray(target) ? structuredClone(target as Obj) : {};
  for (const [k, v] of Object.entries(patch as Obj)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** The value of `--name=value` or `--name value` in an argument list; undefined when absent. */
export function flagValue(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
    if (a === `--${name}`) return args[i + 1];
  }
  return undefined;
}

/** Flag names given in an argument list (without the leading dashes). */
export function flagNames(args: string[]): string[] {
  return args.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]!);
}
