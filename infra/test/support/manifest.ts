import { parseAllDocuments } from 'yaml';

export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
};

/** Parses `helm template` output into its manifests (empty documents dropped). */
export function parseManifests(yamlText: string): Manifest[] {
  const docs = parseAllDocuments(yamlText);
  const manifests: Manifest[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as Manifest | null;
    if (value !== null) manifests.push(value);
  }
  return manifests;
}

export function describe(manifest: Manifest): string {
  return `${manifest.kind}/${manifest.metadata?.name ?? '?'}`;
}
