// k8s-schema.mjs - validates Kubernetes objects against the API schemas
// shipped in npm "kubernetes-models" (OpenAPI of Kubernetes 1.31, compiled
// to ajv validators: types, enums, required fields), plus the check those
// validators leave out and `kubectl apply` (strict field validation) does:
// no unknown fields. The field lists come from the same package's type
// declarations (.d.ts), walked from the object's kind down.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const MODELS = path.dirname(require.resolve('kubernetes-models/package.json'));
const APIMACHINERY = path.dirname(require.resolve('@kubernetes-models/apimachinery/package.json'));

function modelPath(apiVersion, kind) {
	const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : [null, apiVersion];
	return group ? `${group}/${version}/${kind}` : `${version}/${kind}`;
}

export async function loadModel(apiVersion, kind) {
	const rel = modelPath(apiVersion, kind);
	if (!fs.existsSync(path.join(MODELS, rel + '.js')))
		return null;
	const mod = await import(`kubernetes-models/${rel}`);
	return { cls: mod[kind] || mod.default?.[kind], dts: path.join(MODELS, rel + '.d.ts') };
}

// --- the .d.ts walker -------------------------------------------------------

const dtsCache = new Map();

function resolveModule(fromFile, spec) {
	let base;
	if (spec.startsWith('.'))
		base = path.resolve(path.dirname(fromFile), spec);
	else if (spec.startsWith('@kubernetes-models/apimachinery/'))
		base = path.join(APIMACHINERY, spec.slice('@kubernetes-models/apimachinery/'.length));
	else if (spec.startsWith('kubernetes-models/'))
		base = path.join(MODELS, spec.slice('kubernetes-models/'.length));
	else
		return null;
	return base + '.d.ts';
}

// Splits the body of an interface into [name, optional, typeText].
function fieldsOf(body) {
	const out = [];
	const re = /"([^"]+)"(\??):\s*/g;
	let m;
	while ((m = re.exec(body))) {
		let depth = 0, i = re.lastIndex;
		for (; i < body.length; i++) {
			const c = body[i];
			if (c === '{' || c === '<' || c === '(' || c === '[')
				depth++;
			else if (c === '}' || c === '>' || c === ')' || c === ']')
				depth--;
			else if (c === ';' && depth === 0)
				break;
		}
		out.push([m[1], m[2] === '?', body.slice(re.lastIndex, i).trim()]);
		re.lastIndex = i + 1;
	}
	return out;
}

function parseDts(file) {
	if (dtsCache.has(file))
		return dtsCache.get(file);
	const text = fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
	const imports = {};
	for (const m of text.matchAll(/import \{ ([^}]+) \} from "([^"]+)";/g))
		for (const name of m[1].split(',').map((s) => s.trim()))
			imports[name] = m[2];
	const aliases = {};
	for (const m of text.matchAll(/export \{ ([^}]+) \};/g))
		for (const pair of m[1].split(',')) {
			const [a, b] = pair.trim().split(/\s+as\s+/);
			if (b)
				aliases[b] = a;
		}
	const interfaces = {};
	for (const m of text.matchAll(/export interface (\w+)(?: extends [^{]+)? \{/g)) {
		let depth = 1, i = m.index + m[0].length;
		for (; i < text.length && depth; i++) {
			if (text[i] === '{')
				depth++;
			else if (text[i] === '}')
				depth--;
		}
		interfaces[m[1]] = fieldsOf(text.slice(m.index + m[0].length, i - 1));
	}
	const r = { file, imports, aliases, interfaces };
	dtsCache.set(file, r);
	return r;
}

// A type reference → { kind: 'object', fields } | { kind: 'array', of } |
// { kind: 'map', of } | { kind: 'leaf' }
function resolveType(dts, typeText) {
	typeText = typeText.trim();
	let m;
	if ((m = /^Array<([\s\S]+)>$/.exec(typeText)))
		return { kind: 'array', of: resolveType(dts, m[1]) };
	if ((m = /^\{\s*\[key: string\]:\s*([\s\S]+?);?\s*\}$/.exec(typeText)))
		return { kind: 'map', of: resolveType(dts, m[1]) };
	if (!/^\w+$/.test(typeText))
		return { kind: 'leaf' };
	let name = typeText, file = dts;
	if (dts.imports[name]) {
		const f = resolveModule(dts.file, dts.imports[name]);
		if (!f || !fs.existsSync(f))
			return { kind: 'leaf' };
		file = parseDts(f);
	}
	const local = file.aliases[name] || name;
	if (file.interfaces[local])
		return { kind: 'object', dts: file, fields: file.interfaces[local] };
	return { kind: 'leaf' };
}

function walk(value, type, where, errors) {
	if (value === null || value === undefined)
		return;
	if (type.kind === 'array' && Array.isArray(value))
		value.forEach((v, i) => walk(v, type.of, `${where}[${i}]`, errors));
	else if (type.kind === 'map' && typeof value === 'object')
		for (const [k, v] of Object.entries(value))
			walk(v, type.of, `${where}.${k}`, errors);
	else if (type.kind === 'object' && typeof value === 'object' && !Array.isArray(value)) {
		const fields = new Map(type.fields.map(([n, , t]) => [n, t]));
		for (const [k, v] of Object.entries(value)) {
			if (!fields.has(k)) {
				errors.push(`${where || '(top)'}: unknown field "${k}"`);
				continue;
			}
			walk(v, resolveType(type.dts, fields.get(k)), where ? `${where}.${k}` : k, errors);
		}
	}
}

// Returns a list of error strings for one object (empty = valid).
export async function validateObject(obj) {
	const id = `${obj?.kind}/${obj?.metadata?.name}`;
	if (!obj || typeof obj !== 'object' || !obj.apiVersion || !obj.kind)
		return [`${id}: not a Kubernetes object (apiVersion and kind required)`];
	const model = await loadModel(obj.apiVersion, obj.kind);
	if (!model || !model.cls)
		return [`${id}: unknown apiVersion/kind ${obj.apiVersion} ${obj.kind}`];
	const errors = [];
	// the API decodes base64 as Go does, ignoring line breaks (kustomize
	// writes long Secret values in lines of 70); the schema's "byte" format
	// does not, so check the value without them
	if (obj.kind === 'Secret' && obj.data)
		obj = { ...obj, data: Object.fromEntries(Object.entries(obj.data)
			.map(([k, v]) => [k, typeof v === 'string' ? v.replace(/\n/g, '') : v])) };
	try {
		new model.cls(obj).validate();
	} catch (e) {
		for (const d of e.errors || [{ instancePath: '', message: e.message }])
			errors.push(`${id}: ${d.instancePath || '/'} ${d.message}` +
				(d.params?.allowedValues ? ` (${d.params.allowedValues.join(', ')})` : ''));
	}
	const dts = parseDts(model.dts);
	const top = Object.keys(dts.interfaces).find((n) => n === `I${obj.kind}`);
	if (!top)
		errors.push(`${id}: no type declaration for ${obj.kind}`);
	else
		walk(obj, { kind: 'object', dts, fields: dts.interfaces[top] }, '', errors);
	return errors.map((e) => e.startsWith(id) ? e : `${id}: ${e}`);
}
