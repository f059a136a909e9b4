package deploy

import (
	"maps"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir  = "helm/sessionq"
	release   = "rel"
	namespace = "jobs"
	fullname  = "rel-sessionq"

	// Secrets of the value sets: none may appear outside a Secret's data.
	redisPW    = "r3dis-Pa55word"
	sentinelPW = "s3ntinel-Pa55word"
	tokenValue = "t0ken-Value-123"
)

// manifests is one rendering of the chart, parsed.
type manifests struct {
	raw         map[string]string // template path -> rendered text
	deployments map[string]*appsv1.Deployment
	secrets     map[string]*corev1.Secret
	services    map[string]*corev1.Service
	ingresses   map[string]*networkingv1.Ingress
	pdbs        map[string]*policyv1.PodDisruptionBudget
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
	other       map[string]map[string]any // "Kind/name" of the rest (KEDA)
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	require.NoError(t, err)
	return ch
}

// renderChart renders the chart with vals as `helm template` would (the
// chart's values.yaml overlaid by vals) and returns the error, if any.
func renderChart(t *testing.T, vals map[string]any) (map[string]string, error) {
	return renderChartSchema(t, vals, true)
}

// renderChartSchema is renderChart, validating the values against
// values.schema.json or not (`helm install --skip-schema-validation`).
func renderChartSchema(t *testing.T, vals map[string]any, schema bool) (map[string]string, error) {
	t.Helper()
	ch := loadChart(t)
	rv, err := chartutil.ToRenderValuesWithSchemaValidation(ch, vals, chartutil.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}, chartutil.DefaultCapabilities, !schema)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, rv)
}

// render renders and parses every manifest strictly into its Kubernetes
// type: a field the API does not know fails the test.
func render(t *testing.T, vals map[string]any) *manifests {
	t.Helper()
	out, err := renderChart(t, vals)
	require.NoError(t, err)
	m := &manifests{
		raw:         out,
		deployments: map[string]*appsv1.Deployment{},
		secrets:     map[string]*corev1.Secret{},
		services:    map[string]*corev1.Service{},
		ingresses:   map[string]*networkingv1.Ingress{},
		pdbs:        map[string]*policyv1.PodDisruptionBudget{},
		hpas:        map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		other:       map[string]map[string]any{},
	}
	for name, text := range out {
		if path.Ext(name) != ".yaml" {
			continue
		}
		for _, doc := range releaseutil.SplitManifests(text) {
			var head struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			require.NoError(t, yaml.Unmarshal([]byte(doc), &head), "%s:\n%s", name, doc)
			if head.Kind == "" {
				continue
			}
			n := head.Metadata.Name
			var err error
			switch head.Kind {
			case "Deployment":
				m.deployments[n] = &appsv1.Deployment{}
				err = yaml.UnmarshalStrict([]byte(doc), m.deployments[n])
			case "Secret":
				m.secrets[n] = &corev1.Secret{}
				err = yaml.UnmarshalStrict([]byte(doc), m.secrets[n])
			case "Service":
				m.services[n] = &corev1.Service{}
				err = yaml.UnmarshalStrict([]byte(doc), m.services[n])
			case "Ingress":
				m.ingresses[n] = &networkingv1.Ingress{}
				err = yaml.UnmarshalStrict([]byte(doc), m.ingresses[n])
			case "PodDisruptionBudget":
				m.pdbs[n] = &policyv1.PodDisruptionBudget{}
				err = yaml.UnmarshalStrict([]byte(doc), m.pdbs[n])
			case "HorizontalPodAutoscaler":
				m.hpas[n] = &autoscalingv2.HorizontalPodAutoscaler{}
				err = yaml.UnmarshalStrict([]byte(doc), m.hpas[n])
			default:
				var obj map[string]any
				err = yaml.Unmarshal([]byte(doc), &obj)
				m.other[head.Kind+"/"+n] = obj
			}
			require.NoError(t, err, "%s (%s %s):\n%s", name, head.Kind, n, doc)
		}
	}
	return m
}

// lintChart runs Helm's linter (what `helm lint --strict` runs: chart
// file, values, templates rendered and parsed) with vals and fails on any
// warning or error.
func lintChart(t *testing.T, vals map[string]any) {
	t.Helper()
	l := lint.All(chartDir, vals, namespace, false)
	for _, msg := range l.Messages {
		require.Less(t, msg.Severity, support.WarningSev, "helm lint: %s", msg)
	}
}

// Value sets.
func defaults() map[string]any { return map[string]any{} }

func sentinelValues() map[string]any {
	return map[string]any{"redis": map[string]any{
		"mode":     "sentinel",
		"sentinel": map[string]any{"masterName": "mymaster", "nodes": []any{"s1:26379", "s2:26379", "s3:26379"}, "db": 2},
		"password": redisPW, "sentinelPassword": sentinelPW,
	}}
}

func clusterValues() map[string]any {
	return map[string]any{"redis": map[string]any{
		"mode":     "cluster",
		"cluster":  map[string]any{"nodes": []any{"n1:6379", "n2:6379", "n3:6379"}},
		"password": redisPW,
	}}
}

func existingSecretValues() map[string]any {
	return map[string]any{
		"redis":   map[string]any{"url": "rediss://redis.example:6380/3"},
		"secret":  map[string]any{"existingSecret": "ops-secret", "redisPasswordKey": "pw"},
		"gateway": map[string]any{"secretEnv": map[string]any{"SESSIONQ_ADMIN_TOKEN": "admin-token"}},
	}
}

func ingressHPAValues() map[string]any {
	return map[string]any{
		"redis":  map[string]any{"password": redisPW},
		"secret": map[string]any{"extra": map[string]any{"admin-token": tokenValue}},
		"worker": map[string]any{
			"exec":                 map[string]any{"echo": nil, "doc.render": "/usr/local/bin/render --format pdf"},
			"shutdownGraceSeconds": 45, "concurrency": 4, "queues": []any{"critical", "default"},
			"autoscaling": map[string]any{"enabled": true, "kind": "hpa", "minReplicas": 2, "maxReplicas": 20},
			"resources":   map[string]any{"requests": map[string]any{"cpu": "250m", "memory": "128Mi"}},
		},
		"gateway": map[string]any{
			"secretEnv": map[string]any{"SESSIONQ_ADMIN_TOKEN": "admin-token"},
			"ingress":   map[string]any{"enabled": true, "className": "nginx", "tls": []any{map[string]any{"secretName": "sq-tls", "hosts": []any{"sessionq.example.com"}}}},
		},
	}
}

func kedaValues() map[string]any {
	return map[string]any{
		"redis":  map[string]any{"password": redisPW, "url": "redis://redis-master:6379/4"},
		"worker": map[string]any{"autoscaling": map[string]any{"enabled": true, "kind": "keda"}},
	}
}

var valueSets = map[string]func() map[string]any{
	"defaults":        defaults,
	"sentinel":        sentinelValues,
	"cluster":         clusterValues,
	"existing-secret": existingSecretValues,
	"ingress-hpa":     ingressHPAValues,
	"keda":            kedaValues,
}

func TestChartLint(t *testing.T) {
	t.Parallel()
	for _, name := range slices.Sorted(maps.Keys(valueSets)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lintChart(t, valueSets[name]())
		})
	}
}

// Every value set: each component runs its command with probes on the
// port it listens on, reaches Redis through a URL whose password comes
// from a Secret, and no secret is written anywhere but a Secret's data.
func TestChartRender(t *testing.T) {
	t.Parallel()
	for _, name := range slices.Sorted(maps.Keys(valueSets)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vals := valueSets[name]()
			m := render(t, vals)
			checkCommon(t, m)

			w := m.deployments[fullname+"-worker"]
			require.NotNil(t, w)
			c := container(t, w, "worker")
			require.Equal(t, "worker", c.Args[0])
			graceArg, ok := flagValue(c.Args, "--shutdown-grace")
			require.True(t, ok)
			grace, err := time.ParseDuration(graceArg)
			require.NoError(t, err)
			require.NotNil(t, w.Spec.Template.Spec.TerminationGracePeriodSeconds)
			require.Greater(t, time.Duration(*w.Spec.Template.Spec.TerminationGracePeriodSeconds)*time.Second, grace,
				"terminationGracePeriodSeconds above the worker's shutdown grace")
			require.NotEmpty(t, execArgs(c.Args))

			s := m.deployments[fullname+"-scheduler"]
			require.NotNil(t, s)
			require.Equal(t, "scheduler", container(t, s, "scheduler").Args[0])

			g := m.deployments[fullname+"-gateway"]
			require.NotNil(t, g)
			require.Equal(t, []string{"serve", "--addr", "0.0.0.0:8080"}, container(t, g, "gateway").Args)
			svc := m.services[fullname+"-gateway"]
			require.NotNil(t, svc)
			require.Equal(t, "http", svc.Spec.Ports[0].TargetPort.String())
			require.Equal(t, g.Spec.Template.Labels, svc.Spec.Selector)

			pdb := m.pdbs[fullname+"-worker"]
			require.NotNil(t, pdb, "a PodDisruptionBudget for workers")
			require.Equal(t, w.Spec.Template.Labels, pdb.Spec.Selector.MatchLabels)
			require.NotNil(t, pdb.Spec.MaxUnavailable)
		})
	}
}

// checkCommon checks what holds for every rendering.
func checkCommon(t *testing.T, m *manifests) {
	t.Helper()
	// No secret in clear text outside a Secret; in a Secret only as data.
	for name, text := range m.raw {
		for _, pw := range []string{redisPW, sentinelPW, tokenValue} {
			// (A secret.yaml holds them base64-encoded only.)
			require.False(t, strings.Contains(text, pw), "%s holds a secret in clear text", name)
		}
	}
	secretData := map[string][]byte{}
	for _, s := range m.secrets {
		maps.Copy(secretData, s.Data)
	}
	for name, d := range m.deployments {
		require.Equal(t, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels, "%s: the selector selects the pods", name)
		require.Len(t, d.Spec.Template.Spec.Containers, 1)
		c := d.Spec.Template.Spec.Containers[0]
		require.NotNil(t, d.Spec.Template.Spec.SecurityContext.RunAsNonRoot)
		require.True(t, *d.Spec.Template.Spec.SecurityContext.RunAsNonRoot, name)

		// Probes on the port the process listens on.
		listen, ok := flagValue(c.Args, "--metrics-addr")
		if !ok {
			listen, ok = flagValue(c.Args, "--addr")
		}
		require.True(t, ok, "%s listens somewhere: %v", name, c.Args)
		require.Len(t, c.Ports, 1, name)
		require.Equal(t, "0.0.0.0:"+strconv.Itoa(int(c.Ports[0].ContainerPort)), listen, name)
		require.NotNil(t, c.LivenessProbe, name)
		require.NotNil(t, c.ReadinessProbe, name)
		require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path, name)
		require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path, name)
		require.Equal(t, c.Ports[0].Name, c.LivenessProbe.HTTPGet.Port.String(), name)
		require.Equal(t, c.Ports[0].Name, c.ReadinessProbe.HTTPGet.Port.String(), name)

		// Env: secrets by reference only, from a Secret that has the key;
		// the Redis URL parses for its mode once the kubelet expanded it.
		for _, e := range c.Env {
			require.True(t, strings.HasPrefix(e.Name, "SESSIONQ_"), "%s: %s: exec commands do not inherit SESSIONQ_* variables", name, e.Name)
			if e.ValueFrom == nil {
				continue
			}
			ref := e.ValueFrom.SecretKeyRef
			require.NotNil(t, ref, "%s: %s", name, e.Name)
			if s, ok := m.secrets[ref.Name]; ok {
				require.Contains(t, s.Data, ref.Key, "%s: %s refers to a key of the chart's Secret", name, e.Name)
			} else {
				require.Equal(t, "ops-secret", ref.Name, "%s: %s refers to a Secret that exists", name, e.Name)
			}
		}
		checkRedisURL(t, name, c.Env, secretData)
	}
}

// expandEnv resolves env as the kubelet does: values from secretKeyRefs
// (from data, or a stand-in for a key of an existing Secret), and $(VAR)
// references to variables defined before. It returns the variables in
// order as NAME=VALUE, and by name.
func expandEnv(t *testing.T, name string, env []corev1.EnvVar, data map[string][]byte) ([]string, map[string]string) {
	t.Helper()
	ref := regexp.MustCompile(`\$\(([A-Z0-9_]+)\)`)
	vars := map[string]string{}
	var list []string
	for _, e := range env {
		v := e.Value
		if e.ValueFrom != nil {
			b, ok := data[e.ValueFrom.SecretKeyRef.Key]
			if !ok {
				b = []byte("existing-" + e.ValueFrom.SecretKeyRef.Key)
			}
			v = string(b)
		}
		v = ref.ReplaceAllStringFunc(v, func(r string) string {
			k := r[2 : len(r)-1]
			got, ok := vars[k]
			require.True(t, ok, "%s: %s refers to $(%s), not defined before it", name, e.Name, k)
			return got
		})
		vars[e.Name] = v
		list = append(list, e.Name+"="+v)
	}
	return list, vars
}

// checkRedisURL expands SESSIONQ_REDIS_URL as the kubelet does and parses
// it with go-redis for the mode: the password from the Secret lands where
// the mode reads it.
func checkRedisURL(t *testing.T, name string, env []corev1.EnvVar, data map[string][]byte) {
	t.Helper()
	_, vars := expandEnv(t, name, env, data)
	url, mode := vars["SESSIONQ_REDIS_URL"], vars["SESSIONQ_REDIS_MODE"]
	require.NotEmpty(t, url, name)
	want := vars["SESSIONQ_REDIS_PASSWORD"]
	switch mode {
	case "single":
		o, err := redis.ParseURL(url)
		require.NoError(t, err, name)
		require.Equal(t, want, o.Password, name)
	case "cluster":
		o, err := redis.ParseClusterURL(url)
		require.NoError(t, err, name)
		require.Equal(t, want, o.Password, name)
		require.Len(t, o.Addrs, 3, name)
	case "sentinel":
		o, err := redis.ParseFailoverURL(url)
		require.NoError(t, err, name)
		require.Equal(t, want, o.Password, name)
		require.Equal(t, vars["SESSIONQ_REDIS_SENTINEL_PASSWORD"], o.SentinelPassword, name)
		require.Equal(t, "mymaster", o.MasterName)
		require.Len(t, o.SentinelAddrs, 3, name)
		require.Equal(t, 2, o.DB)
	default:
		t.Fatalf("%s: SESSIONQ_REDIS_MODE %q", name, mode)
	}
}

func container(t *testing.T, d *appsv1.Deployment, name string) corev1.Container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s has no container %s", d.Name, name)
	return corev1.Container{}
}

func execArgs(args []string) []string {
	var out []string
	for i, a := range args {
		if a == "--exec" && i+1 < len(args) {
			out = append(out, args[i+1])
		}
	}
	return out
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

// What each value set changes, beyond the common checks.
func TestChartValues(t *testing.T) {
	t.Parallel()

	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		m := render(t, defaults())
		require.Empty(t, m.secrets, "no password, no tokens: no Secret")
		require.Empty(t, m.ingresses)
		require.Empty(t, m.hpas)
		require.Empty(t, m.other)
		w := m.deployments[fullname+"-worker"]
		require.Equal(t, int32(3), *w.Spec.Replicas)
		c := container(t, w, "worker")
		require.Equal(t, []string{"worker", "--metrics-addr", "0.0.0.0:9090", "--concurrency", "10", "--queues", "default",
			"--lease", "10s", "--shutdown-grace", "10s", "--exec", "echo=cat"}, c.Args)
		require.Equal(t, int64(25), *w.Spec.Template.Spec.TerminationGracePeriodSeconds)
		env := envOf(c)
		require.Equal(t, "redis://redis:6379/0", env["SESSIONQ_REDIS_URL"].Value)
		require.NotContains(t, env, "SESSIONQ_REDIS_PASSWORD")
	})

	t.Run("sentinel", func(t *testing.T) {
		t.Parallel()
		m := render(t, sentinelValues())
		sec := m.secrets[fullname+"-secret"]
		require.NotNil(t, sec)
		require.Equal(t, redisPW, string(sec.Data["redis-password"]))
		require.Equal(t, sentinelPW, string(sec.Data["sentinel-password"]))
		env := envOf(container(t, m.deployments[fullname+"-scheduler"], "scheduler"))
		require.Equal(t, "sentinel", env["SESSIONQ_REDIS_MODE"].Value)
		require.Equal(t, "redis://:$(SESSIONQ_REDIS_SENTINEL_PASSWORD)@s1:26379/2?master_name=mymaster&addr=s2:26379&addr=s3:26379&password=$(SESSIONQ_REDIS_PASSWORD)",
			env["SESSIONQ_REDIS_URL"].Value)
		require.Contains(t, m.deployments[fullname+"-worker"].Spec.Template.Annotations, "checksum/secret")
	})

	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		m := render(t, clusterValues())
		env := envOf(container(t, m.deployments[fullname+"-gateway"], "gateway"))
		require.Equal(t, "cluster", env["SESSIONQ_REDIS_MODE"].Value)
		require.Equal(t, "redis://:$(SESSIONQ_REDIS_PASSWORD)@n1:6379?addr=n2:6379&addr=n3:6379", env["SESSIONQ_REDIS_URL"].Value)
		require.NotContains(t, env, "SESSIONQ_REDIS_SENTINEL_PASSWORD")
	})

	t.Run("existing-secret", func(t *testing.T) {
		t.Parallel()
		m := render(t, existingSecretValues())
		require.Empty(t, m.secrets, "the chart makes no Secret of its own")
		for _, d := range m.deployments {
			require.NotContains(t, d.Spec.Template.Annotations, "checksum/secret")
			env := envOf(d.Spec.Template.Spec.Containers[0])
			require.NotNil(t, env["SESSIONQ_REDIS_PASSWORD"].ValueFrom)
			ref := env["SESSIONQ_REDIS_PASSWORD"].ValueFrom.SecretKeyRef
			require.Equal(t, "ops-secret", ref.Name)
			require.Equal(t, "pw", ref.Key)
			require.Equal(t, "rediss://:$(SESSIONQ_REDIS_PASSWORD)@redis.example:6380/3", env["SESSIONQ_REDIS_URL"].Value)
		}
		env := envOf(container(t, m.deployments[fullname+"-gateway"], "gateway"))
		require.NotNil(t, env["SESSIONQ_ADMIN_TOKEN"].ValueFrom)
		ref := env["SESSIONQ_ADMIN_TOKEN"].ValueFrom.SecretKeyRef
		require.Equal(t, "ops-secret", ref.Name)
		require.Equal(t, "admin-token", ref.Key)
		require.NotContains(t, envOf(container(t, m.deployments[fullname+"-worker"], "worker")), "SESSIONQ_ADMIN_TOKEN")
	})

	t.Run("ingress-hpa", func(t *testing.T) {
		t.Parallel()
		m := render(t, ingressHPAValues())
		w := m.deployments[fullname+"-worker"]
		require.Nil(t, w.Spec.Replicas, "the HPA owns the replica count")
		c := container(t, w, "worker")
		require.Equal(t, []string{"doc.render=/usr/local/bin/render --format pdf"}, execArgs(c.Args), "echo: null drops the default mapping")
		q, _ := flagValue(c.Args, "--queues")
		require.Equal(t, "critical,default", q)
		require.Equal(t, int64(60), *w.Spec.Template.Spec.TerminationGracePeriodSeconds)
		require.Equal(t, "250m", c.Resources.Requests.Cpu().String())

		hpa := m.hpas[fullname+"-worker"]
		require.NotNil(t, hpa)
		require.Equal(t, w.Name, hpa.Spec.ScaleTargetRef.Name)
		require.Equal(t, "Deployment", hpa.Spec.ScaleTargetRef.Kind)
		require.Equal(t, int32(2), *hpa.Spec.MinReplicas)
		require.Equal(t, int32(20), hpa.Spec.MaxReplicas)
		require.Equal(t, autoscalingv2.ExternalMetricSourceType, hpa.Spec.Metrics[0].Type)
		require.Equal(t, "asynq_queue_size", hpa.Spec.Metrics[0].External.Metric.Name)

		ing := m.ingresses[fullname+"-gateway"]
		require.NotNil(t, ing)
		require.Equal(t, "nginx", *ing.Spec.IngressClassName)
		be := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
		require.Equal(t, fullname+"-gateway", be.Name)
		require.Contains(t, m.services, be.Name)
		require.Equal(t, "http", be.Port.Name)
		require.Equal(t, "sq-tls", ing.Spec.TLS[0].SecretName)

		sec := m.secrets[fullname+"-secret"]
		require.Equal(t, tokenValue, string(sec.Data["admin-token"]))
		env := envOf(container(t, m.deployments[fullname+"-gateway"], "gateway"))
		require.NotNil(t, env["SESSIONQ_ADMIN_TOKEN"].ValueFrom)
		require.Equal(t, "admin-token", env["SESSIONQ_ADMIN_TOKEN"].ValueFrom.SecretKeyRef.Key)
	})

	t.Run("keda", func(t *testing.T) {
		t.Parallel()
		m := render(t, kedaValues())
		require.Nil(t, m.deployments[fullname+"-worker"].Spec.Replicas)
		require.Empty(t, m.hpas, "KEDA makes its own HPA")
		so := m.other["ScaledObject/"+fullname+"-worker"]
		require.NotNil(t, so, "kinds: %v", slices.Collect(maps.Keys(m.other)))
		spec := so["spec"].(map[string]any)
		require.Equal(t, fullname+"-worker", spec["scaleTargetRef"].(map[string]any)["name"])
		trig := spec["triggers"].([]any)[0].(map[string]any)
		require.Equal(t, "redis", trig["type"])
		md := trig["metadata"].(map[string]any)
		require.Equal(t, "asynq:{default}:pending", md["listName"])
		require.Equal(t, "redis-master:6379", md["address"])
		require.Equal(t, "4", md["databaseIndex"])
		require.Equal(t, "false", md["enableTLS"])
		require.Equal(t, fullname+"-redis", trig["authenticationRef"].(map[string]any)["name"])
		ta := m.other["TriggerAuthentication/"+fullname+"-redis"]
		require.NotNil(t, ta)
		ref := ta["spec"].(map[string]any)["secretTargetRef"].([]any)[0].(map[string]any)
		require.Equal(t, map[string]any{"parameter": "password", "name": fullname + "-secret", "key": "redis-password"}, ref)
	})
}

// Bad values fail the rendering with a message that names the value and
// holds no password: by values.schema.json where it can tell (schema), and
// by the templates' own checks, which also hold without the schema
// (`--skip-schema-validation`; tmpl).
func TestChartBadValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		vals         map[string]any
		schema, tmpl string
	}{
		{"password in url", map[string]any{"redis": map[string]any{"url": "redis://:" + redisPW + "@redis:6379/0"}}, "", "redis.url must be"},
		{"user and password in url", map[string]any{"redis": map[string]any{"url": "redis://u:" + redisPW + "@redis:6379/0"}}, "", "without a password"},
		{"password in a non-redis url", map[string]any{"redis": map[string]any{"url": "http://:" + redisPW + "@redis:6379"}}, "", "redis.url must be"},
		{"not a redis url", map[string]any{"redis": map[string]any{"url": "http://redis:6379"}}, "", "redis.url must be"},
		{"unknown mode", map[string]any{"redis": map[string]any{"mode": "replica"}}, "/redis/mode", "redis.mode must be single, cluster or sentinel"},
		{"cluster without nodes", map[string]any{"redis": map[string]any{"mode": "cluster"}}, "", "redis.cluster.nodes"},
		{"sentinel without nodes", map[string]any{"redis": map[string]any{"mode": "sentinel"}}, "", "redis.sentinel.nodes"},
		{"password not a string", map[string]any{"redis": map[string]any{"password": 12345}}, "/redis/password", ""},
		{"no exec", map[string]any{"worker": map[string]any{"exec": map[string]any{"echo": nil}}}, "", "worker.exec"},
		{"no margin", map[string]any{"worker": map[string]any{"terminationGraceMarginSeconds": 0}}, "/worker/terminationGraceMarginSeconds", "terminationGraceMarginSeconds"},
		{"zero concurrency", map[string]any{"worker": map[string]any{"concurrency": 0}}, "/worker/concurrency", "worker.concurrency"},
		{"misspelt key", map[string]any{"worker": map[string]any{"concurency": 4}}, "concurency", ""},
		{"secretEnv name", map[string]any{"gateway": map[string]any{"secretEnv": map[string]any{"ADMIN_TOKEN": "t"}}}, "'ADMIN_TOKEN' does not match pattern '^SESSIONQ_", "must start with SESSIONQ_"},
		{"autoscaling kind", map[string]any{"worker": map[string]any{"autoscaling": map[string]any{"enabled": true, "kind": "vpa"}}}, "/worker/autoscaling/kind", "hpa or keda"},
		{"autoscaling bounds", map[string]any{"worker": map[string]any{"autoscaling": map[string]any{"enabled": true, "minReplicas": 5, "maxReplicas": 2}}}, "", "maxReplicas below minReplicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := tc.schema
			if want == "" {
				want = tc.tmpl
			}
			_, err := renderChartSchema(t, tc.vals, true)
			require.ErrorContains(t, err, want)
			require.NotContains(t, err.Error(), redisPW)
			if tc.tmpl != "" {
				_, err := renderChartSchema(t, tc.vals, false)
				require.ErrorContains(t, err, tc.tmpl)
				require.NotContains(t, err.Error(), redisPW)
			}
		})
	}
}

// The chart's templates all render to something in some value set (no
// dead template), and its files are the ones the README lists.
func TestChartFiles(t *testing.T) {
	t.Parallel()
	ch := loadChart(t)
	var names []string
	for _, f := range ch.Templates {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	seen := map[string]bool{}
	for _, vals := range valueSets {
		for name, text := range render(t, vals()).raw {
			if strings.TrimSpace(text) != "" {
				seen[name] = true
			}
		}
	}
	for _, n := range names {
		if path.Base(n) == "_helpers.tpl" {
			continue
		}
		require.True(t, seen["sessionq/"+n], "%s renders in no value set", n)
	}
	require.Equal(t, "sessionq", ch.Metadata.Name)
	require.NoError(t, ch.Validate())
}

// The --set flags of the README's `helm install` line, parsed by Helm's own
// parser, render the job mapping and Redis settings they mean.
func TestChartReadmeInstall(t *testing.T) {
	t.Parallel()
	vals := map[string]any{}
	for _, set := range []string{
		"image.repository=registry.example/sessionq",
		"redis.url=redis://redis-master.jobs:6379/0",
		"redis.password=" + redisPW,
	} {
		require.NoError(t, strvals.ParseInto(set, vals), set)
	}
	require.NoError(t, strvals.ParseIntoString(`worker.exec.doc\.render=/usr/local/bin/render --format pdf`, vals))
	m := render(t, vals)
	checkCommon(t, m)
	c := container(t, m.deployments[fullname+"-worker"], "worker")
	require.Equal(t, []string{"doc.render=/usr/local/bin/render --format pdf", "echo=cat"}, execArgs(c.Args))
	require.Equal(t, "registry.example/sessionq:0.1.0", c.Image)
	require.Equal(t, "redis://:$(SESSIONQ_REDIS_PASSWORD)@redis-master.jobs:6379/0", envOf(c)["SESSIONQ_REDIS_URL"].Value)
}
