#!/usr/bin/env node
// validate.mjs - offline checks of sensorwire's deployment files, run by
// tests/integration/test_deploy_*.sh. Each command prints "error: ..." lines
// and exits 1 when something is wrong, 0 with a one-line summary otherwise.
//
//   kustomize DIR                 assemble DIR with the subset in kustomize.mjs
//   compare A.yaml B.yaml         same objects in both builds (any order)
//   k8s BUILT.yaml [--overlay NAME] [--allow-privileged] [--docs FILE]
//                                 schemas + security and wiring policy
//   compose FILE...               compose-spec schema + policy
//   keys --bridge F --publisher F [--k8s BUILT.yaml]... [--compose FILE]...
//        [--env FILE]... [--systemd FILE]...
//                                 every configuration name is one the
//                                 daemons accept (their --print-keys)
//   telegraf FILE [--measurement M --metric-prefix P]
//   dashboard FILE --lp FILE [--datasource FILE]
//                                 the queries name what the bridge writes

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import YAML from 'yaml';
import { parse as parseToml } from 'smol-toml';
import Ajv from 'ajv';
import { build, toYaml, parseDocs, KustomizeError } from './kustomize.mjs';
import { validateObject } from './k8s-schema.mjs';

const require = createRequire(import.meta.url);
const errors = [];
const err = (m) => errors.push(m);

// Secrets the user creates (they hold passwords; never committed). Each must
// be explained in docs/deploy.md.
const USER_SECRETS = ['mosquitto-passwd', 'sensor-bridge-secrets', 'sensor-publisher-mqtt'];
const OUR_IMAGE = /(^|\/)sensor-(bridge|publisher)(:|@|$)/;
// memory a publisher may take on a 1 GB Pi 3 next to the kubelet
const PUBLISHER_MAX_MEMORY = 128 * 1024 * 1024;

function args(argv) {
	const pos = [], opt = {};
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a.startsWith('--')) {
			const k = a.slice(2);
			const bool = ['allow-privileged'].includes(k);
			const v = bool ? true : argv[++i];
			(opt[k] ??= []).push(v);
		} else {
			pos.push(a);
		}
	}
	const one = (k) => opt[k]?.[opt[k].length - 1];
	return { pos, opt, one };
}

function readYamlFile(file) {
	return parseDocs(fs.readFileSync(file, 'utf8'), file);
}

function quantity(q) {
	if (q === undefined || q === null)
		return NaN;
	const m = /^([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(q));
	if (!m)
		return NaN;
	const mult = { m: 1e-3, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
	return parseFloat(m[1]) * (m[2] ? mult[m[2]] : 1);
}

function ourBinary(image) {
	const m = OUR_IMAGE.exec(image || '');
	return m ? `sensor-${m[2]}` : null;
}

function podSpecOf(r) {
	if (r.kind === 'Pod')
		return r.spec;
	if (['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job'].includes(r.kind))
		return r.spec?.template?.spec;
	if (r.kind === 'CronJob')
		return r.spec?.jobTemplate?.spec?.template?.spec;
	return null;
}

// The environment a container sees: its env entries and every key of the
// ConfigMaps/Secrets named in envFrom (those in this build).
function containerEnv(c, resources, ns) {
	const env = new Map();
	for (const e of c.envFrom || []) {
		const ref = e.configMapRef ? ['ConfigMap', e.configMapRef.name] : ['Secret', e.secretRef?.name];
		const src = resources.find((r) => r.kind === ref[0] && r.metadata.name === ref[1] &&
			r.metadata.namespace === ns);
		if (!src) {
			env.set(`(missing ${ref[0]} ${ref[1]})`, { from: 'envFrom' });
			continue;
		}
		for (const [k, v] of Object.entries(src.data || {}))
			env.set(k, { value: ref[0] === 'Secret' ? null : v, from: `${ref[0]} ${ref[1]}` });
	}
	for (const e of c.env || [])
		env.set(e.name, { value: e.value ?? null, valueFrom: e.valueFrom, from: 'env' });
	return env;
}

// --- k8s -------------------------------------------------------------------

async function checkK8s(file, { overlay, allowPrivileged, docs }) {
	const resources = readYamlFile(file);
	if (!resources.length)
		err(`${file}: no objects`);
	for (const r of resources)
		for (const e of await validateObject(r))
			err(`${overlay}: schema: ${e}`);
	if (errors.length)
		return;

	const ours = (r) => r.metadata?.namespace === 'sensorwire';
	const has = (kind, name, ns) => resources.some((r) => r.kind === kind && r.metadata.name === name &&
		r.metadata.namespace === ns);
	const docText = docs ? fs.readFileSync(docs, 'utf8') : null;
	let publishers = 0, bridges = 0;

	const ns = resources.find((r) => r.kind === 'Namespace' && r.metadata.name === 'sensorwire');
	if (!ns)
		err(`${overlay}: no Namespace sensorwire`);
	else if (!allowPrivileged && ns.metadata.labels?.['pod-security.kubernetes.io/enforce'] !== 'restricted')
		err(`${overlay}: Namespace sensorwire does not enforce the "restricted" Pod Security level`);

	for (const r of resources) {
		const spec = podSpecOf(r);
		if (!spec)
			continue;
		const id = `${overlay}: ${r.kind}/${r.metadata.name}`;
		const nsName = r.metadata.namespace;
		if (!ours(r)) {
			// only the device plugin may live elsewhere (kube-system)
			if (!(nsName === 'kube-system' && r.metadata.name === 'generic-device-plugin'))
				err(`${id}: in namespace "${nsName}", expected sensorwire`);
			continue;
		}
		const psc = spec.securityContext || {};
		if (spec.automountServiceAccountToken !== false)
			err(`${id}: automountServiceAccountToken must be false (no API access needed)`);
		if (spec.hostNetwork || spec.hostPID || spec.hostIPC)
			err(`${id}: uses the host's network/PID/IPC namespace`);
		if (psc.runAsUser === 0 || psc.runAsGroup === 0)
			err(`${id}: pod runs as root (runAsUser/runAsGroup 0)`);
		for (const v of spec.volumes || []) {
			if (v.hostPath)
				err(`${id}: hostPath volume "${v.name}"`);
			if (v.configMap && !has('ConfigMap', v.configMap.name, nsName))
				err(`${id}: volume "${v.name}" names ConfigMap ${v.configMap.name}, not in the build`);
			if (v.persistentVolumeClaim && !has('PersistentVolumeClaim', v.persistentVolumeClaim.claimName, nsName))
				err(`${id}: volume "${v.name}" names PVC ${v.persistentVolumeClaim.claimName}, not in the build`);
			if (v.secret && !has('Secret', v.secret.secretName, nsName)) {
				if (!USER_SECRETS.includes(v.secret.secretName))
					err(`${id}: volume "${v.name}" names Secret ${v.secret.secretName}: neither in the build nor a documented user-created Secret`);
				else if (docText && !docText.includes(v.secret.secretName))
					err(`${id}: Secret ${v.secret.secretName} is created by the user but ${docs} does not say how`);
			}
		}
		const containers = [...(spec.initContainers || []), ...(spec.containers || [])];
		for (const c of containers) {
			const cid = `${id} container ${c.name}`;
			const sc = c.securityContext || {};
			const bin = ourBinary(c.image);
			if (!(sc.runAsNonRoot ?? psc.runAsNonRoot))
				err(`${cid}: runAsNonRoot is not set`);
			if ((sc.runAsUser ?? psc.runAsUser) === 0)
				err(`${cid}: runs as root`);
			if (((sc.seccompProfile ?? psc.seccompProfile)?.type) !== 'RuntimeDefault')
				err(`${cid}: seccompProfile is not RuntimeDefault`);
			if (sc.readOnlyRootFilesystem !== true)
				err(`${cid}: readOnlyRootFilesystem is not true`);
			if (!(sc.capabilities?.drop || []).includes('ALL'))
				err(`${cid}: capabilities are not all dropped`);
			if ((sc.capabilities?.add || []).length)
				err(`${cid}: adds capabilities ${sc.capabilities.add.join(',')}`);
			if (sc.privileged === true) {
				if (!allowPrivileged)
					err(`${cid}: privileged container (only the overlay named privileged-* may have one)`);
				else if (bin !== 'sensor-publisher')
					err(`${cid}: privileged, but only the gpio publisher may be in the fallback overlay`);
			} else if (sc.allowPrivilegeEscalation !== false) {
				err(`${cid}: allowPrivilegeEscalation is not false`);
			}
			for (const kind of ['requests', 'limits'])
				for (const res of ['cpu', 'memory'])
					if (!(quantity(c.resources?.[kind]?.[res]) > 0))
						err(`${cid}: no ${kind}.${res}`);
			if (quantity(c.resources?.requests?.memory) > quantity(c.resources?.limits?.memory))
				err(`${cid}: memory request above its limit`);
			if (!/:[^/]+$|@sha256:/.test(c.image) || /:latest$/.test(c.image)) {
				if (bin || ours(r))
					err(`${cid}: image "${c.image}" has no fixed tag`);
			}
			const mounts = new Map((c.volumeMounts || []).map((m) => [m.mountPath, m]));
			// a StatefulSet's claim templates are volumes too (one claim per replica)
			const claimTemplates = r.kind === 'StatefulSet' ? r.spec.volumeClaimTemplates || [] : [];
			const volumeNamed = (name) => (spec.volumes || []).find((v) => v.name === name) ||
				(claimTemplates.some((t) => t.metadata?.name === name) ?
					{ name, persistentVolumeClaim: { template: true } } : undefined);
			for (const m of c.volumeMounts || [])
				if (!volumeNamed(m.name))
					err(`${cid}: mounts unknown volume "${m.name}"`);
			const ports = c.ports || [];
			for (const pr of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
				const p = c[pr]?.httpGet?.port ?? c[pr]?.tcpSocket?.port;
				if (p !== undefined && !ports.some((x) => x.name === p || x.containerPort === p))
					err(`${cid}: ${pr} port "${p}" is not a container port`);
			}
			for (const e of c.envFrom || []) {
				if (e.configMapRef && !has('ConfigMap', e.configMapRef.name, nsName))
					err(`${cid}: envFrom ConfigMap ${e.configMapRef.name} is not in the build`);
				if (e.secretRef && !has('Secret', e.secretRef.name, nsName))
					err(`${cid}: envFrom Secret ${e.secretRef.name} is not in the build`);
			}
			if (!bin)
				continue;

			// sensorwire's own daemons
			const env = containerEnv(c, resources, nsName);
			const val = (k) => env.get(k)?.value;
			const under = (p, pred) => [...mounts.values()].some((m) => (p === m.mountPath ||
				p.startsWith(m.mountPath.replace(/\/$/, '') + '/')) && pred(volumeNamed(m.name)));
			for (const [k, v] of env) {
				if (!k.endsWith('_FILE') || !v.value)
					continue;
				const p = v.value.replace(/\$\([A-Z_]+\)/g, 'x');
				if (!under(p, (vol) => vol?.secret || vol?.projected))
					err(`${cid}: ${k}=${v.value} is not inside a mounted Secret`);
			}
			if (bin === 'sensor-publisher') {
				publishers++;
				if (r.kind !== 'DaemonSet')
					err(`${cid}: the publisher must be a DaemonSet, is a ${r.kind}`);
				if (!Object.keys(spec.nodeSelector || {}).some((k) => k.startsWith('sensorwire/')))
					err(`${cid}: the publisher DaemonSet has no nodeSelector on a sensorwire/ node label`);
				if (quantity(c.resources?.limits?.memory) > PUBLISHER_MAX_MEMORY)
					err(`${cid}: memory limit ${c.resources.limits.memory} does not fit a 1 GB Pi 3 (max 128Mi)`);
				const nn = env.get('NODE_NAME');
				if (nn?.valueFrom?.fieldRef?.fieldPath !== 'spec.nodeName')
					err(`${cid}: NODE_NAME does not come from the downward API (spec.nodeName)`);
				const ob = val('OUTBOX_DIR');
				if (!ob || !under(ob, (vol) => vol?.emptyDir || vol?.persistentVolumeClaim))
					err(`${cid}: OUTBOX_DIR "${ob}" is not on a writable volume`);
			}
			if (bin === 'sensor-bridge') {
				bridges++;
				if (r.kind === 'Deployment') {
					if (r.spec.replicas !== 1)
						err(`${cid}: a bridge Deployment must have exactly one replica (replicas: a StatefulSet)`);
					if (r.spec.strategy?.type !== 'Recreate')
						err(`${cid}: the bridge must use the Recreate strategy (one MQTT session, one log)`);
				} else if (r.kind === 'StatefulSet') {
					// replicas: each its own session, its own log, one share group
					if (env.get('MQTT_CLIENT_ID')?.valueFrom?.fieldRef?.fieldPath !== 'metadata.name')
						err(`${cid}: MQTT_CLIENT_ID does not come from the pod name (metadata.name): replicas would take each other's session`);
					if (!val('MQTT_SHARE_GROUP'))
						err(`${cid}: a bridge StatefulSet needs MQTT_SHARE_GROUP (replicas split the readings)`);
					if (val('MQTT_VERSION') === '3.1.1')
						err(`${cid}: MQTT_SHARE_GROUP needs MQTT_VERSION 5 or auto`);
					if (r.spec.podManagementPolicy === 'Parallel')
						err(`${cid}: podManagementPolicy Parallel: replicas must stop one at a time (share group hand-over)`);
				} else {
					err(`${cid}: the bridge must be a Deployment (one replica) or a StatefulSet (replicas), is a ${r.kind}`);
				}
				const sd = val('STATE_DIR');
				if (!sd || !under(sd, (vol) => vol?.persistentVolumeClaim))
					err(`${cid}: STATE_DIR "${sd}" is not on a PersistentVolumeClaim`);
				else if (r.kind === 'StatefulSet' && !under(sd, (vol) => vol?.persistentVolumeClaim?.template))
					err(`${cid}: STATE_DIR "${sd}" is on a claim every replica shares, not on a volumeClaimTemplate`);
				const hp = Number(val('HEALTH_PORT'));
				for (const pr of ['livenessProbe', 'readinessProbe']) {
					const g = c[pr]?.httpGet;
					if (!g) {
						err(`${cid}: no httpGet ${pr}`);
						continue;
					}
					const port = ports.find((x) => x.name === g.port || x.containerPort === g.port);
					if (!port || port.containerPort !== hp)
						err(`${cid}: ${pr} port is not HEALTH_PORT (${val('HEALTH_PORT')})`);
				}
			}
		}
	}
	for (const s of resources.filter((r) => r.kind === 'Service' && ours(r))) {
		const sel = s.spec.selector || {};
		const pods = resources.filter((r) => podSpecOf(r) && r.metadata.namespace === s.metadata.namespace &&
			Object.entries(sel).every(([k, v]) => r.spec.template?.metadata?.labels?.[k] === v));
		if (!pods.length)
			err(`${overlay}: Service/${s.metadata.name} selects no pod`);
		for (const p of s.spec.ports || []) {
			const ok = pods.some((w) => podSpecOf(w).containers.some((c) => (c.ports || [])
				.some((cp) => cp.name === p.targetPort || cp.containerPort === (p.targetPort ?? p.port))));
			if (!ok)
				err(`${overlay}: Service/${s.metadata.name} port ${p.name} targets no container port`);
		}
	}
	if (!publishers)
		err(`${overlay}: no sensor-publisher container`);
	if (!bridges)
		err(`${overlay}: no sensor-bridge container`);
	if (!errors.length)
		console.log(`${overlay}: ${resources.length} objects valid (schemas, no unknown fields, policy)`);
}

// Same objects in both builds, whatever the order.
function compare(a, b) {
	const key = (r) => `${r.kind}/${r.metadata?.namespace || ''}/${r.metadata?.name}`;
	const ma = new Map(readYamlFile(a).map((r) => [key(r), r]));
	const mb = new Map(readYamlFile(b).map((r) => [key(r), r]));
	for (const k of ma.keys())
		if (!mb.has(k))
			err(`only in ${a}: ${k}`);
	for (const k of mb.keys())
		if (!ma.has(k))
			err(`only in ${b}: ${k}`);
	const canon = (v) => JSON.stringify(v, (_, x) => x && typeof x === 'object' && !Array.isArray(x)
		? Object.fromEntries(Object.keys(x).sort().map((kk) => [kk, x[kk]])) : x);
	for (const [k, v] of ma)
		if (mb.has(k) && canon(v) !== canon(mb.get(k)))
			err(`${k} differs between ${a} and ${b}`);
	if (!errors.length)
		console.log(`identical: ${ma.size} objects`);
}

// --- compose ---------------------------------------------------------------

function loadDotEnv(dir) {
	const f = path.join(dir, '.env.example');
	const env = {};
	if (fs.existsSync(f))
		for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
			const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
			if (m)
				env[m[1]] = m[2];
		}
	return env;
}

// Compose's interpolation, with .env.example beside the file as the .env
function interpolate(v, env, file) {
	if (typeof v === 'string')
		return v.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
			(all, name, op, arg, bare) => {
				if (all === '$$')
					return '$$';
				name = name || bare;
				const set = env[name] !== undefined, nonEmpty = set && env[name] !== '';
				if (op === ':-' || op === '-')
					return (op === ':-' ? nonEmpty : set) ? env[name] : arg;
				if (op === ':?' || op === '?') {
					if (!(op === ':?' ? nonEmpty : set))
						err(`${file}: \${${name}} is required but not in .env.example`);
					return env[name] ?? '';
				}
				if (op === ':+' || op === '+')
					return (op === ':+' ? nonEmpty : set) ? arg : '';
				if (!set)
					err(`${file}: \${${name}} is not set in .env.example and has no default`);
				return env[name] ?? '';
			});
	if (Array.isArray(v))
		return v.map((x) => interpolate(x, env, file));
	if (v && typeof v === 'object')
		return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x, env, file)]));
	return v;
}

function composeValidator() {
	const schema = JSON.parse(fs.readFileSync(
		path.join(path.dirname(require.resolve('dclint/package.json')), 'schemas/compose.schema.json'), 'utf8'));
	// draft-07 under an https $schema URL, which ajv does not know by that name
	delete schema.$schema;
	const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
	return ajv.compile(schema);
}

function serviceBinary(svc) {
	const df = typeof svc.build === 'object' ? svc.build.dockerfile || '' : '';
	return ourBinary(svc.image) || (/(bridge|publisher)\.Dockerfile$/.exec(df)?.[1] &&
		`sensor-${/(bridge|publisher)\.Dockerfile$/.exec(df)[1]}`);
}

function loadCompose(file) {
	const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'));
	if (doc.errors.length) {
		err(`${file}: ${doc.errors[0].message}`);
		return null;
	}
	return interpolate(doc.toJS(), loadDotEnv(path.dirname(file)), file);
}

function checkCompose(files) {
	const validate = composeValidator();
	for (const file of files) {
		const c = loadCompose(file);
		if (!c)
			continue;
		if (!validate(c))
			for (const e of validate.errors)
				err(`${file}: schema: ${e.instancePath || '/'} ${e.message}` +
					(e.params?.additionalProperty ? ` ("${e.params.additionalProperty}")` : ''));
		const dir = path.dirname(file);
		const services = c.services || {};
		for (const [name, s] of Object.entries(services)) {
			const id = `${file}: service ${name}`;
			for (const d of Object.keys(Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((x) => [x, 1]))
				: s.depends_on || {}))
				if (!services[d])
					err(`${id}: depends_on unknown service "${d}"`);
			for (const v of s.volumes || []) {
				const src = typeof v === 'string' ? v.split(':')[0] : v.type === 'bind' ? v.source : null;
				if (src && (src.startsWith('.') || src.startsWith('/')) && !fs.existsSync(path.resolve(dir, src)))
					err(`${id}: bind mount source ${src} does not exist`);
				if (src && !src.startsWith('.') && !src.startsWith('/') && !(c.volumes && src in c.volumes))
					err(`${id}: named volume ${src} is not declared`);
			}
			for (const f of [].concat(s.env_file || []))
				if (!fs.existsSync(path.resolve(dir, typeof f === 'string' ? f : f.path)))
					err(`${id}: env_file ${typeof f === 'string' ? f : f.path} does not exist`);
			if (s.build) {
				const ctx = path.resolve(dir, typeof s.build === 'string' ? s.build : s.build.context || '.');
				const df = typeof s.build === 'object' && s.build.dockerfile ? s.build.dockerfile : 'Dockerfile';
				if (!fs.existsSync(path.resolve(ctx, df)))
					err(`${id}: Dockerfile ${df} not found in ${ctx}`);
			} else if (!/:[^/]+$|@sha256:/.test(s.image || '') || /:latest$/.test(s.image)) {
				err(`${id}: image "${s.image}" has no fixed tag`);
			}
			if (serviceBinary(s)) {
				if (s.read_only !== true)
					err(`${id}: read_only is not true`);
				if (!(s.cap_drop || []).includes('ALL'))
					err(`${id}: cap_drop does not include ALL`);
				if (!(s.security_opt || []).some((o) => /^no-new-privileges(:true)?$/.test(o)))
					err(`${id}: security_opt lacks no-new-privileges`);
				if (s.user !== undefined && /^(0|root)(:|$)/.test(String(s.user)))
					err(`${id}: runs as root`);
				if (s.privileged)
					err(`${id}: privileged`);
			}
		}
		for (const kind of ['configs', 'secrets'])
			for (const [n, d] of Object.entries(c[kind] || {}))
				if (d.file && !fs.existsSync(path.resolve(dir, d.file)))
					err(`${file}: ${kind} ${n}: file ${d.file} does not exist`);
	}
	if (!errors.length)
		console.log(`compose: ${files.length} files valid (compose-spec schema, references, policy)`);
}

// --- configuration names ---------------------------------------------------

function readKeys(file, bin) {
	if (!file || !fs.existsSync(file))
		throw new Error(`no key list for ${bin} (${file}): is the binary built?`);
	const keys = new Set(fs.readFileSync(file, 'utf8').split('\n').map((s) => s.trim()).filter(Boolean));
	if (keys.size < 3)
		throw new Error(`${bin} --print-keys printed ${keys.size} keys: expected its configuration table`);
	return keys;
}

function envFileKeys(file) {
	const out = [];
	fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
		const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line);
		if (m)
			out.push([m[1], `${file}:${i + 1}`]);
	});
	return out;
}

function binaryOfName(file) {
	const b = path.basename(file);
	if (b.includes('bridge'))
		return 'sensor-bridge';
	if (b.includes('publisher'))
		return 'sensor-publisher';
	return null;
}

function checkKeys(o) {
	const sets = {
		'sensor-bridge': readKeys(o.one('bridge'), 'sensor-bridge'),
		'sensor-publisher': readKeys(o.one('publisher'), 'sensor-publisher'),
	};
	const uses = []; // [binary, key, where]
	for (const f of o.opt.k8s || []) {
		const resources = readYamlFile(f);
		for (const r of resources) {
			const spec = podSpecOf(r);
			for (const c of spec?.containers || []) {
				const bin = ourBinary(c.image);
				if (!bin)
					continue;
				for (const [k, v] of containerEnv(c, resources, r.metadata.namespace))
					uses.push([bin, k, `${f}: ${r.kind}/${r.metadata.name} (${v.from})`]);
			}
		}
	}
	for (const f of o.opt.compose || []) {
		const c = loadCompose(f);
		for (const [name, s] of Object.entries(c?.services || {})) {
			const bin = serviceBinary(s);
			if (!bin)
				continue;
			const env = Array.isArray(s.environment) ? s.environment.map((x) => x.split('=')[0])
				: Object.keys(s.environment || {});
			for (const k of env)
				uses.push([bin, k, `${f}: service ${name} environment`]);
			for (const ef of [].concat(s.env_file || []))
				for (const [k, where] of envFileKeys(path.resolve(path.dirname(f), typeof ef === 'string' ? ef : ef.path)))
					uses.push([bin, k, where]);
		}
	}
	for (const f of o.opt.env || []) {
		const bin = binaryOfName(f);
		if (!bin) {
			err(`${f}: cannot tell which daemon reads it (name it *bridge* or *publisher*)`);
			continue;
		}
		for (const [k, where] of envFileKeys(f))
			uses.push([bin, k, where]);
	}
	for (const f of o.opt.systemd || []) {
		const text = fs.readFileSync(f, 'utf8');
		const exec = /^ExecStart=.*?(sensor-(?:bridge|publisher))/m.exec(text);
		if (!exec) {
			err(`${f}: no ExecStart of sensor-bridge or sensor-publisher`);
			continue;
		}
		text.split('\n').forEach((line, i) => {
			const m = /^Environment=(.*)$/.exec(line);
			if (!m)
				return;
			for (const a of m[1].match(/"[^"]*"|\S+/g) || [])
				uses.push([exec[1], a.replace(/^"/, '').split('=')[0], `${f}:${i + 1}`]);
		});
	}
	if (!uses.length)
		err('no configuration names found at all: nothing was checked');
	const seen = new Set();
	for (const [bin, k, where] of uses) {
		if (!sets[bin].has(k))
			err(`${where}: ${k} is not a configuration key of ${bin} (not in its --print-keys)`);
		seen.add(`${bin} ${k}`);
	}
	if (!errors.length)
		console.log(`keys: ${uses.length} uses of ${seen.size} names, all accepted:\n  ` + [...seen].sort().join('\n  '));
}

// --- telegraf --------------------------------------------------------------

function checkTelegraf(file, o) {
	let t;
	try {
		t = parseToml(fs.readFileSync(file, 'utf8'));
	} catch (e) {
		err(`${file}: TOML: ${e.message.split('\n')[0]}`);
		return;
	}
	const inputs = t.inputs?.http_listener_v2 || [];
	const rw = inputs.filter((i) => i.data_format === 'prometheusremotewrite');
	if (!rw.length)
		err(`${file}: no [[inputs.http_listener_v2]] with data_format = "prometheusremotewrite"`);
	for (const i of rw) {
		if (!i.service_address)
			err(`${file}: http_listener_v2 has no service_address`);
		if (!Array.isArray(i.paths) || !i.paths.length)
			err(`${file}: http_listener_v2 has no paths`);
	}
	const outs = t.outputs?.influxdb_v2 || [];
	if (!outs.length)
		err(`${file}: no [[outputs.influxdb_v2]]`);
	for (const out of outs)
		for (const k of ['urls', 'token', 'organization', 'bucket'])
			if (!out[k] || (Array.isArray(out[k]) && !out[k].length))
				err(`${file}: outputs.influxdb_v2 lacks ${k}`);
	// remote-write series arrive as measurement prometheus_remote_write with
	// one field named METRIC_PREFIX+field; the processors must turn them into
	// what the bridge writes to InfluxDB directly (INFLUX_MEASUREMENT, field)
	const m = o.one('measurement'), p = o.one('metric-prefix');
	if (m) {
		const renames = (t.processors?.rename || []).flatMap((r) => r.replace || []);
		if (!renames.some((r) => r.measurement === 'prometheus_remote_write' && r.dest === m))
			err(`${file}: no processors.rename of measurement prometheus_remote_write to "${m}" (the bridge's INFLUX_MEASUREMENT)`);
	}
	if (p) {
		const trims = (t.processors?.strings || []).flatMap((s) => s.trim_prefix || []);
		if (!trims.some((x) => x.field_key === '*' && x.prefix === p))
			err(`${file}: no processors.strings trim_prefix of "${p}" (the bridge's METRIC_PREFIX) on field keys`);
	}
	if (!errors.length)
		console.log(`${file}: valid TOML; remote-write listener → influxdb_v2` + (m ? `, series renamed to ${m}/<field>` : ''));
}

// --- Grafana dashboard -------------------------------------------------------

// One line-protocol line → { measurement, tags, fields }
export function parseLineProtocol(line) {
	const parts = [];
	let cur = '', inq = false;
	for (let i = 0; i < line.length; i++) {
		const c = line[i];
		if (c === '\\' && i + 1 < line.length) {
			cur += c + line[++i];
			continue;
		}
		if (c === '"')
			inq = !inq;
		if (c === ' ' && !inq) {
			parts.push(cur);
			cur = '';
			continue;
		}
		cur += c;
	}
	parts.push(cur);
	const split = (s, sep) => {
		const out = [];
		let x = '', q = false;
		for (let i = 0; i < s.length; i++) {
			if (s[i] === '\\') {
				x += s[++i];
				continue;
			}
			if (s[i] === '"')
				q = !q;
			if (s[i] === sep && !q) {
				out.push(x);
				x = '';
				continue;
			}
			x += s[i];
		}
		out.push(x);
		return out;
	};
	const [measurement, ...tagKv] = split(parts[0], ',');
	const tags = Object.fromEntries(tagKv.map((kv) => kv.split('=')));
	const fields = Object.fromEntries(split(parts[1] || '', ',').filter(Boolean).map((kv) => {
		const i = kv.indexOf('=');
		return [kv.slice(0, i), kv.slice(i + 1)];
	}));
	return { measurement, tags, fields };
}

const FLUX_COLUMNS = new Set(['_time', '_value', '_field', '_measurement', '_start', '_stop', 'age_s', 'up']);

function checkDashboard(file, o) {
	let d;
	try {
		d = JSON.parse(fs.readFileSync(file, 'utf8'));
	} catch (e) {
		err(`${file}: JSON: ${e.message}`);
		return;
	}
	const lp = fs.readFileSync(o.one('lp'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))
		.map(parseLineProtocol);
	if (!lp.length) {
		err(`${o.one('lp')}: no line-protocol lines from the bridge`);
		return;
	}
	const meas = new Set(lp.map((x) => x.measurement));
	const fields = new Set(lp.flatMap((x) => Object.keys(x.fields)));
	const tags = new Set(lp.flatMap((x) => Object.keys(x.tags)));
	const vars = new Set((d.templating?.list || []).map((v) => v.name));
	let dsUid = null;
	if (o.one('datasource')) {
		const ds = YAML.parse(fs.readFileSync(o.one('datasource'), 'utf8'));
		const influx = (ds.datasources || []).find((x) => x.type === 'influxdb');
		if (!influx)
			err(`${o.one('datasource')}: no influxdb data source`);
		else {
			dsUid = influx.uid;
			if (influx.jsonData?.version !== 'Flux')
				err(`${o.one('datasource')}: the data source must use Flux (the dashboard's queries are Flux)`);
		}
	}
	const panels = [];
	const walkPanels = (ps) => ps.forEach((p) => {
		panels.push(p);
		walkPanels(p.panels || []);
	});
	walkPanels(d.panels || []);
	const queries = [];
	for (const p of panels)
		for (const t of p.targets || []) {
			queries.push([`panel "${p.title}"`, t.query || '']);
			const uid = t.datasource?.uid ?? p.datasource?.uid;
			if (dsUid && uid !== dsUid && uid !== '${datasource}')
				err(`${file}: panel "${p.title}" uses data source "${uid}", provisioned is "${dsUid}"`);
			if (!t.query)
				err(`${file}: panel "${p.title}" has a target without a Flux query`);
		}
	for (const v of d.templating?.list || [])
		if (v.type === 'query')
			queries.push([`variable ${v.name}`, typeof v.query === 'string' ? v.query : v.query?.query || '']);
	const named = { measurement: new Set(), field: new Set(), tag: new Set() };
	for (const [where, q] of queries) {
		for (const m of q.matchAll(/r\._measurement\s*==\s*"([^"]+)"/g))
			named.measurement.add(m[1]), meas.has(m[1]) || err(`${file}: ${where}: measurement "${m[1]}" is not what the bridge writes (${[...meas]})`);
		for (const m of q.matchAll(/r\._field\s*==\s*"([^"]+)"/g))
			named.field.add(m[1]), fields.has(m[1]) || err(`${file}: ${where}: field "${m[1]}" is not one the bridge writes (${[...fields]})`);
		const tagRefs = [...q.matchAll(/\br\.([A-Za-z_][A-Za-z0-9_]*)/g), ...q.matchAll(/\br\["([^"]+)"\]/g),
			...q.matchAll(/\btag:\s*"([^"]+)"/g)].map((m) => m[1]);
		for (const m of q.matchAll(/columns:\s*\[([^\]]*)\]/g))
			tagRefs.push(...[...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]));
		for (const t of tagRefs) {
			if (FLUX_COLUMNS.has(t) || fields.has(t))
				continue;
			named.tag.add(t);
			if (!tags.has(t))
				err(`${file}: ${where}: column "${t}" is neither a tag the bridge writes (${[...tags]}) nor a field`);
		}
		for (const m of q.matchAll(/\$\{?([A-Za-z_]+)\}?/g))
			if (!vars.has(m[1]) && !['__interval', '__range'].includes(m[1]))
				err(`${file}: ${where}: variable $${m[1]} is not defined in templating`);
	}
	if (!named.measurement.size)
		err(`${file}: no query filters on the measurement`);
	for (const t of ['node', 'sensor'])
		if (!named.tag.has(t))
			err(`${file}: no query uses the tag "${t}"`);
	const titles = panels.map((p) => (p.title || '').toLowerCase());
	for (const [what, re] of [['temperature', /temperature/], ['humidity', /humidity/],
		['last reading age', /age|last reading/], ['publisher availability', /availab/]])
		if (!titles.some((t) => re.test(t)))
			err(`${file}: no panel for ${what}`);
	const wanted = [...fields].filter((f) => /temperature|humidity/.test(f));
	for (const f of wanted)
		if (!named.field.has(f))
			err(`${file}: the bridge writes field "${f}" but no panel shows it`);
	if (!errors.length)
		console.log(`${file}: ${panels.length} panels; names measurement ${[...named.measurement]}, fields ${[...named.field]}, tags ${[...named.tag]} — all written by the bridge`);
}

// --- main --------------------------------------------------------------------

async function main() {
	const [cmd, ...rest] = process.argv.slice(2);
	const o = args(rest);
	try {
		switch (cmd) {
		case 'kustomize':
			process.stdout.write(toYaml(build(o.pos[0])));
			break;
		case 'compare':
			compare(o.pos[0], o.pos[1]);
			break;
		case 'k8s':
			await checkK8s(o.pos[0], { overlay: o.one('overlay') || o.pos[0],
				allowPrivileged: !!o.one('allow-privileged'), docs: o.one('docs') });
			break;
		case 'compose':
			checkCompose(o.pos);
			break;
		case 'keys':
			checkKeys(o);
			break;
		case 'telegraf':
			checkTelegraf(o.pos[0], o);
			break;
		case 'dashboard':
			checkDashboard(o.pos[0], o);
			break;
		default:
			err(`unknown command "${cmd}" (see the header of ${path.basename(process.argv[1])})`);
		}
	} catch (e) {
		err(e instanceof KustomizeError ? `kustomize: ${e.message}` : e.stack || String(e));
	}
	for (const e of errors)
		console.error(`error: ${e}`);
	process.exit(errors.length ? 1 : 0);
}

main();
