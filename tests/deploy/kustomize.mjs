// kustomize.mjs - the subset of kustomize that k8s/ uses, so the manifests
// can be assembled and checked on a machine without kubectl/kustomize.
//
// Supported: Kustomization and Component; resources (files, directories);
// components; namespace; labels (pairs, metadata only); configMapGenerator
// and secretGenerator (envs, files, literals, per-generator namespace) with
// kustomize's own name-hash suffix; patches given as strategic-merge files;
// name references from pods to generated ConfigMaps/Secrets. Anything else
// in a kustomization is refused, so a feature nobody implemented here cannot
// be silently ignored. When a real kustomize is present, the tests build
// with both and compare (tests/integration/test_deploy_k8s.sh).

import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import YAML from 'yaml';

const KNOWN_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'components', 'namespace',
	'labels', 'configMapGenerator', 'secretGenerator', 'patches']);
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume',
	'StorageClass', 'CustomResourceDefinition', 'PriorityClass', 'Node']);
// strategic-merge keys of the list fields we may patch; other lists are replaced
const MERGE_KEYS = { containers: 'name', initContainers: 'name', ephemeralContainers: 'name',
	volumes: 'name', env: 'name', volumeMounts: 'mountPath', ports: 'containerPort',
	imagePullSecrets: 'name' };

export class KustomizeError extends Error {}

// Kubernetes' YAML is 1.1 (sigs.k8s.io/yaml): parse as kubectl would.
export function parseDocs(text, file) {
	const docs = YAML.parseAllDocuments(text, { version: '1.1' });
	const out = [];
	for (const d of docs) {
		if (d.errors.length)
			throw new KustomizeError(`${file}: ${d.errors[0].message}`);
		const v = d.toJS();
		if (v !== null && v !== undefined)
			out.push(v);
	}
	return out;
}

function readKustomization(dir) {
	for (const n of ['kustomization.yaml', 'kustomization.yml', 'Kustomization']) {
		const f = path.join(dir, n);
		if (fs.existsSync(f)) {
			const [k] = parseDocs(fs.readFileSync(f, 'utf8'), f);
			for (const key of Object.keys(k))
				if (!KNOWN_FIELDS.has(key))
					throw new KustomizeError(`${f}: field "${key}" is not supported by this subset`);
			return { file: f, k };
		}
	}
	throw new KustomizeError(`${dir}: no kustomization.yaml`);
}

// kustomize's hasher (api/hasher): sha256 of Go's json.Marshal of a small
// map, first ten hex digits with 0,1,3,a,e replaced. Its lookup of
// "metadata/name" finds nothing, so the name enters the hash as "".
function goJson(v) {
	if (v === null || typeof v !== 'object')
		return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g,
			(c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
	if (Array.isArray(v))
		return '[' + v.map(goJson).join(',') + ']';
	return '{' + Object.keys(v).sort().map((k) => goJson(k) + ':' + goJson(v[k])).join(',') + '}';
}

function nameHash(obj) {
	const m = obj.kind === 'Secret'
		? { kind: 'Secret', type: obj.type || 'Opaque', name: '', data: obj.data || {} }
		: { kind: 'ConfigMap', name: '', data: obj.data || {} };
	const hex = crypto.createHash('sha256').update(goJson(m)).digest('hex');
	const sub = { 0: 'g', 1: 'h', 3: 'k', a: 'm', e: 't' };
	return [...hex.slice(0, 10)].map((c) => sub[c] || c).join('');
}

// kyaml's encodeBase64: values of 70 or more base64 characters are cut into
// lines of 70, each ending in a newline (the Secret and its hash use that)
function base64Lines(value) {
	const enc = Buffer.from(value).toString('base64');
	if (Math.floor(enc.length / 70) + 1 <= 1)
		return enc;
	let out = '';
	for (let i = 0; i < enc.length; i += 70)
		out += enc.slice(i, i + 70) + '\n';
	return out;
}

function parseEnvFile(file) {
	const data = {};
	fs.readFileSync(file, 'utf8').split('\n').forEach((raw, i) => {
		const line = raw.replace(/^\s+/, '');
		if (line === '' || line.startsWith('#'))
			return;
		const eq = line.indexOf('=');
		if (eq <= 0)
			throw new KustomizeError(`${file}:${i + 1}: not KEY=VALUE`);
		data[line.slice(0, eq)] = line.slice(eq + 1);
	});
	return data;
}

function generate(dir, gen, kind) {
	const data = {};
	for (const e of gen.envs || [])
		Object.assign(data, parseEnvFile(path.join(dir, e)));
	for (const f of gen.files || []) {
		const [key, rel] = f.includes('=') ? f.split('=', 2) : [path.basename(f), f];
		data[key] = fs.readFileSync(path.join(dir, rel), 'utf8');
	}
	for (const l of gen.literals || []) {
		const eq = l.indexOf('=');
		data[l.slice(0, eq)] = l.slice(eq + 1);
	}
	for (const key of Object.keys(gen))
		if (!['name', 'namespace', 'envs', 'files', 'literals', 'type'].includes(key))
			throw new KustomizeError(`${dir}: ${kind}Generator field "${key}" is not supported`);
	const obj = { apiVersion: 'v1', kind, metadata: { name: gen.name } };
	if (gen.namespace)
		obj.metadata.namespace = gen.namespace;
	if (kind === 'Secret') {
		obj.type = gen.type || 'Opaque';
		obj.data = Object.fromEntries(Object.entries(data)
			.map(([k, v]) => [k, base64Lines(v)]));
	} else {
		obj.data = data;
	}
	const suffixed = `${gen.name}-${nameHash(obj)}`;
	return { obj: { ...obj, metadata: { ...obj.metadata, name: suffixed } }, original: gen.name };
}

function merge(base, patch, field) {
	if (patch === null)
		return undefined;
	if (Array.isArray(patch)) {
		const key = MERGE_KEYS[field];
		if (!key || !Array.isArray(base))
			return structuredClone(patch);
		const out = structuredClone(base);
		for (const item of patch) {
			if (item && typeof item === 'object' && '$patch' in item)
				throw new KustomizeError(`$patch directives are not supported`);
			const i = out.findIndex((o) => o[key] === item[key]);
			if (i < 0)
				out.push(structuredClone(item));
			else
				out[i] = merge(out[i], item, '');
		}
		return out;
	}
	if (patch && typeof patch === 'object') {
		const out = base && typeof base === 'object' && !Array.isArray(base) ? structuredClone(base) : {};
		for (const [k, v] of Object.entries(patch)) {
			const m = merge(out[k], v, k);
			if (m === undefined)
				delete out[k];
			else
				out[k] = m;
		}
		return out;
	}
	return patch;
}

function applyPatch(resources, patch, where) {
	const { kind, metadata = {} } = patch;
	const hits = resources.filter((r) => r.kind === kind && r.metadata.name === metadata.name &&
		(!metadata.namespace || r.metadata.namespace === metadata.namespace));
	if (hits.length !== 1)
		throw new KustomizeError(`${where}: patch for ${kind}/${metadata.name} matches ${hits.length} resources`);
	const i = resources.indexOf(hits[0]);
	resources[i] = merge(hits[0], patch, '');
}

function loadResource(dir, entry, acc, stack) {
	const p = path.resolve(dir, entry);
	if (!fs.existsSync(p))
		throw new KustomizeError(`${dir}: resource "${entry}" does not exist`);
	if (fs.statSync(p).isDirectory()) {
		const sub = accumulate(p, stack, 'Kustomization');
		acc.resources.push(...sub.resources);
		acc.generated.push(...sub.generated);
	} else {
		acc.resources.push(...parseDocs(fs.readFileSync(p, 'utf8'), p));
	}
}

// Builds dir into acc (a fresh one for a Kustomization; the parent's for a
// Component, which transforms everything accumulated so far).
function accumulate(dir, stack, want, acc = { resources: [], generated: [] }) {
	dir = path.resolve(dir);
	for (const s of stack)
		if (s === dir || s.startsWith(dir + path.sep))
			throw new KustomizeError(`cycle: ${dir} contains ${s}`);
	stack = [...stack, dir];
	const { file, k } = readKustomization(dir);
	const kind = k.kind || 'Kustomization';
	if (kind !== want)
		throw new KustomizeError(`${file}: expected kind ${want}, found ${kind}`);
	const own = { resources: [], generated: [] };
	for (const r of k.resources || [])
		loadResource(dir, r, own, stack);
	if (want === 'Kustomization')
		acc = own;
	else {
		acc.resources.push(...own.resources);
		acc.generated.push(...own.generated);
	}
	for (const c of k.components || [])
		accumulate(path.resolve(dir, c), stack, 'Component', acc);
	for (const [list, gkind] of [[k.configMapGenerator, 'ConfigMap'], [k.secretGenerator, 'Secret']]) {
		for (const gen of list || []) {
			const g = generate(dir, gen, gkind);
			acc.resources.push(g.obj);
			acc.generated.push({ kind: gkind, original: g.original, name: g.obj.metadata.name, obj: g.obj });
		}
	}
	// transformers of this level see everything accumulated so far
	const scope = acc.resources;
	if (k.namespace) {
		for (const r of scope)
			if (!CLUSTER_SCOPED.has(r.kind))
				r.metadata.namespace = k.namespace;
	}
	for (const l of k.labels || []) {
		if (l.includeSelectors || l.includeTemplates)
			throw new KustomizeError(`${file}: labels with includeSelectors/includeTemplates are not supported`);
		for (const r of scope)
			r.metadata.labels = { ...(r.metadata.labels || {}), ...l.pairs };
	}
	for (const p of k.patches || []) {
		if (p.target || p.options)
			throw new KustomizeError(`${file}: patch target/options are not supported (use a strategic-merge file)`);
		const docs = p.path
			? parseDocs(fs.readFileSync(path.join(dir, p.path), 'utf8'), path.join(dir, p.path))
			: parseDocs(p.patch, file);
		for (const d of docs)
			applyPatch(acc.resources, d, file);
	}
	return acc;
}

// Rewrites references to generated ConfigMaps/Secrets to their hashed names.
function fixNameRefs(resources, generated) {
	const find = (kind, name, ns) => {
		const g = generated.find((x) => x.kind === kind && x.original === name &&
			(x.obj.metadata.namespace || ns) === ns);
		return g ? g.name : name;
	};
	for (const r of resources) {
		const spec = r.kind === 'Pod' ? r.spec : r.spec?.template?.spec;
		if (!spec)
			continue;
		const ns = r.metadata.namespace;
		for (const v of spec.volumes || []) {
			if (v.configMap)
				v.configMap.name = find('ConfigMap', v.configMap.name, ns);
			if (v.secret)
				v.secret.secretName = find('Secret', v.secret.secretName, ns);
			for (const s of v.projected?.sources || []) {
				if (s.configMap)
					s.configMap.name = find('ConfigMap', s.configMap.name, ns);
				if (s.secret)
					s.secret.name = find('Secret', s.secret.name, ns);
			}
		}
		for (const c of [...(spec.initContainers || []), ...(spec.containers || [])]) {
			for (const e of c.envFrom || []) {
				if (e.configMapRef)
					e.configMapRef.name = find('ConfigMap', e.configMapRef.name, ns);
				if (e.secretRef)
					e.secretRef.name = find('Secret', e.secretRef.name, ns);
			}
			for (const e of c.env || []) {
				const vf = e.valueFrom || {};
				if (vf.configMapKeyRef)
					vf.configMapKeyRef.name = find('ConfigMap', vf.configMapKeyRef.name, ns);
				if (vf.secretKeyRef)
					vf.secretKeyRef.name = find('Secret', vf.secretKeyRef.name, ns);
			}
		}
	}
}

export function build(dir) {
	const acc = accumulate(dir, [], 'Kustomization');
	fixNameRefs(acc.resources, acc.generated);
	const seen = new Set();
	for (const r of acc.resources) {
		const id = `${r.kind}/${r.metadata.namespace || ''}/${r.metadata.name}`;
		if (seen.has(id))
			throw new KustomizeError(`${dir}: ${id} is defined twice`);
		seen.add(id);
	}
	return acc.resources;
}

export function toYaml(resources) {
	return resources.map((r) => YAML.stringify(r, { version: '1.1' })).join('---\n');
}
