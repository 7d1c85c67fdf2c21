package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/proxy"
)

// k8sObject is the part of a Kubernetes manifest the deployment test reads.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	StringData map[string]string `yaml:"stringData"`
	Data       map[string]string `yaml:"data"`
	Spec       struct {
		Replicas *int   `yaml:"replicas"`
		Type     string `yaml:"type"`
		Template struct {
			Spec k8sPodSpec `yaml:"spec"`
		} `yaml:"template"`
		Ports []struct {
			Name string `yaml:"name"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type k8sPodSpec struct {
	SecurityContext struct {
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
	} `yaml:"securityContext"`
	Containers []struct {
		Args []string `yaml:"args"`
		Env  []struct {
			Name string `yaml:"name"`
		} `yaml:"env"`
		EnvFrom []struct {
			SecretRef struct {
				Name string `yaml:"name"`
			} `yaml:"secretRef"`
		} `yaml:"envFrom"`
		ReadinessProbe k8sProbe `yaml:"readinessProbe"`
		LivenessProbe  k8sProbe `yaml:"livenessProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext struct {
			ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	} `yaml:"containers"`
	Volumes []struct {
		Name     string    `yaml:"name"`
		EmptyDir yaml.Node `yaml:"emptyDir"`
	} `yaml:"volumes"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// readManifests decodes every document of every YAML file in dir.
func readManifests(t *testing.T, dir string) map[string][]k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", dir, err)
	}
	byKind := map[string][]k8sObject{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(false)
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s: a document without kind or metadata.name", f)
			}
			byKind[o.Kind] = append(byKind[o.Kind], o)
		}
	}
	return byKind
}

// TestKubernetesManifests checks that deploy/kubernetes is a cluster-mode
// deployment that starts: its config parses with the Secret's variables
// set, names the PostgreSQL store and Redis limits, and the Deployment
// probes, mounts and hardening match it.
func TestKubernetesManifests(t *testing.T) {
	objs := readManifests(t, filepath.Join("..", "..", "deploy", "kubernetes"))
	for _, kind := range []string{"Secret", "ConfigMap", "Job", "Deployment", "Service"} {
		if len(objs[kind]) == 0 {
			t.Fatalf("deploy/kubernetes has no %s", kind)
		}
	}
	if len(objs["Namespace"]) != 0 {
		t.Error("deploy/kubernetes creates a Namespace; the operator chooses it")
	}
	secret, cm, dep, job := objs["Secret"][0], objs["ConfigMap"][0], objs["Deployment"][0], objs["Job"][0]

	// The config, with every secret a dummy and the pod name set.
	vars := map[string]string{"POD_NAME": "scopegate-7d9f8b6c5-x2x4z"}
	for k := range secret.StringData {
		vars[k] = "dummy-" + strings.ToLower(k)
	}
	vars["SCOPEGATE_PG_DSN"] = "postgres://scopegate:dummy@postgres:5432/scopegate"
	vars["SCOPEGATE_ALERT_WEBHOOK_URL"] = "https://hooks.example.com/x"
	for _, k := range []string{"SCOPEGATE_PEPPER", "SCOPEGATE_PG_DSN", "SCOPEGATE_REDIS_PASSWORD", "SCOPEGATE_AUDIT_SIGNING_KEY"} {
		if _, ok := secret.StringData[k]; !ok {
			t.Errorf("the Secret has no %s", k)
		}
	}
	text, ok := cm.Data["scopegate.yaml"]
	if !ok {
		t.Fatal("the ConfigMap has no scopegate.yaml")
	}
	cfg, err := config.Parse([]byte(text), func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("the ConfigMap's scopegate.yaml: %v", err)
	}
	if err := proxy.Validate(cfg); err != nil {
		t.Errorf("the ConfigMap's scopegate.yaml cannot be served: %v", err)
	}
	if cfg.Store.Driver != "postgres" || cfg.Limits.Driver != "redis" || cfg.Audit.Driver != "postgres" {
		t.Errorf("store.driver %q, limits.driver %q, audit.driver %q; want postgres, redis and postgres",
			cfg.Store.Driver, cfg.Limits.Driver, cfg.Audit.Driver)
	}
	if cfg.InstanceID != vars["POD_NAME"] {
		t.Errorf("instance_id = %q, want the pod name", cfg.InstanceID)
	}

	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 3 {
		t.Errorf("the Deployment's replicas = %v, want 3", dep.Spec.Replicas)
	}
	checkPod(t, "Deployment", dep.Spec.Template.Spec, secret.Metadata.Name, cfg, "serve")
	checkPod(t, "Job", job.Spec.Template.Spec, secret.Metadata.Name, cfg, "migrate")
	c := dep.Spec.Template.Spec.Containers[0]
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
		c.ReadinessProbe.HTTPGet.Port != "admin" || c.LivenessProbe.HTTPGet.Port != "admin" {
		t.Errorf("the probes are %+v and %+v; want /readyz and /healthz on port admin", c.ReadinessProbe, c.LivenessProbe)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("the Deployment's resources = %+v, want a cpu request and a memory limit", c.Resources)
	}

	// The admin port is in no Service but a ClusterIP one.
	for _, s := range objs["Service"] {
		hasAdmin := slices.ContainsFunc(s.Spec.Ports, func(p struct {
			Name string `yaml:"name"`
		}) bool {
			return p.Name == "admin"
		})
		if hasAdmin && s.Spec.Type != "ClusterIP" {
			t.Errorf("Service %s exposes the admin port with type %q", s.Metadata.Name, s.Spec.Type)
		}
	}
}

// checkPod checks a pod template that runs scopegate command with the
// ConfigMap's config: the config file is the mounted one, the secrets come
// from the Secret, the data directory is an emptyDir, and it runs non-root
// on a read-only root file system.
func checkPod(t *testing.T, what string, pod k8sPodSpec, secret string, cfg *config.Config, command string) {
	t.Helper()
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", what, len(pod.Containers))
	}
	c := pod.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != command {
		t.Errorf("%s: args %q, want %q first", what, c.Args, command)
	}
	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("%s: args %q name no --config", what, c.Args)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	if mounts[filepath.Dir(c.Args[i+1])] == "" {
		t.Errorf("%s: the config %s is not on a mounted volume", what, c.Args[i+1])
	}
	data := mounts[cfg.DataDir]
	if !slices.ContainsFunc(pod.Volumes, func(v struct {
		Name     string    `yaml:"name"`
		EmptyDir yaml.Node `yaml:"emptyDir"`
	}) bool {
		return v.Name == data && v.EmptyDir.Kind != 0
	}) {
		t.Errorf("%s: data_dir %s is not an emptyDir mount", what, cfg.DataDir)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef.Name != secret {
		t.Errorf("%s: envFrom %+v, want the Secret %s", what, c.EnvFrom, secret)
	}
	if !slices.ContainsFunc(c.Env, func(e struct {
		Name string `yaml:"name"`
	}) bool {
		return e.Name == "POD_NAME"
	}) {
		t.Errorf("%s: no POD_NAME in env; the config's instance_id needs it", what)
	}
	if !pod.SecurityContext.RunAsNonRoot || !c.SecurityContext.ReadOnlyRootFilesystem ||
		c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Errorf("%s: want runAsNonRoot, readOnlyRootFilesystem and no privilege escalation", what)
	}
}

// TestSystemdUnits checks the hardening and the ordering of the systemd
// example: the gateway waits for the one-shot migration.
func TestSystemdUnits(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "systemd")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	serve, migrate := read("scopegate.service"), read("scopegate-migrate.service")
	for _, line := range []string{"ExecStart=/usr/local/bin/scopegate serve --config /etc/scopegate/scopegate.yaml --data-dir /var/lib/scopegate", "ProtectSystem=strict", "NoNewPrivileges=yes",
		"StateDirectory=scopegate", "EnvironmentFile=/etc/scopegate/scopegate.env", "DynamicUser=yes",
		"After=scopegate-migrate.service", "Requires=scopegate-migrate.service"} {
		if !strings.Contains(serve, line+"\n") {
			t.Errorf("scopegate.service has no line %q", line)
		}
	}
	for _, line := range []string{"Type=oneshot", "ExecStart=/usr/local/bin/scopegate migrate", "ProtectSystem=strict",
		"EnvironmentFile=/etc/scopegate/scopegate.env"} {
		if !strings.Contains(migrate, line) {
			t.Errorf("scopegate-migrate.service has no line %q", line)
		}
	}
}
