{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "sessionq.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name. */}}
{{- define "sessionq.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sessionq.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "sessionq.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: pass (dict "root" $ "component" "worker"). */}}
{{- define "sessionq.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sessionq.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "sessionq.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The Secret the components read: the existing one, or the chart's. */}}
{{- define "sessionq.secretName" -}}
{{- .Values.secret.existingSecret | default (printf "%s-secret" (include "sessionq.fullname" .)) }}
{{- end }}

{{/* Whether Redis has a password, and whether the sentinels have one. */}}
{{- define "sessionq.redisAuth" -}}
{{- if .Values.secret.existingSecret }}{{ if .Values.secret.redisPasswordKey }}true{{ end }}{{ else if .Values.redis.password }}true{{ end }}
{{- end }}
{{- define "sessionq.sentinelAuth" -}}
{{- if .Values.secret.existingSecret }}{{ if .Values.secret.sentinelPasswordKey }}true{{ end }}{{ else if .Values.redis.sentinelPassword }}true{{ end }}
{{- end }}
{{/* The chart's own key names, when it makes the Secret. */}}
{{- define "sessionq.redisPasswordKey" -}}
{{- if .Values.secret.existingSecret }}{{ .Values.secret.redisPasswordKey }}{{ else }}redis-password{{ end }}
{{- end }}
{{- define "sessionq.sentinelPasswordKey" -}}
{{- if .Values.secret.existingSecret }}{{ .Values.secret.sentinelPasswordKey }}{{ else }}sentinel-password{{ end }}
{{- end }}

{{/*
The Redis URL of SESSIONQ_REDIS_URL. Passwords are never written here:
the kubelet expands $(SESSIONQ_REDIS_PASSWORD) and
$(SESSIONQ_REDIS_SENTINEL_PASSWORD) from the env entries before it, which
come from the Secret.
*/}}
{{- define "sessionq.redisURL" -}}
{{- $r := .Values.redis }}
{{- $auth := include "sessionq.redisAuth" . }}
{{- if eq $r.mode "single" }}
{{- if not (regexMatch "^rediss?://[^@/?#]+(/[0-9]*)?([?][^@]*)?$" $r.url) }}
{{- fail (printf "redis.url must be redis://HOST:PORT[/DB] or rediss://..., without a password (use redis.password or secret.existingSecret): got %q" (regexReplaceAll "//[^@/]*@" $r.url "//***@")) }}
{{- end }}
{{- if $auth }}
{{- regexReplaceAll "^(rediss?://)" $r.url "${1}:$(SESSIONQ_REDIS_PASSWORD)@" }}
{{- else }}
{{- $r.url }}
{{- end }}
{{- else if eq $r.mode "cluster" }}
{{- if not $r.cluster.nodes }}{{ fail "redis.cluster.nodes: give at least one host:port in cluster mode" }}{{ end }}
{{- $first := first $r.cluster.nodes }}
{{- printf "%s://%s%s" $r.scheme (ternary ":$(SESSIONQ_REDIS_PASSWORD)@" "" (eq $auth "true")) $first }}
{{- range $i, $n := rest $r.cluster.nodes }}{{ ternary "?" "&" (eq $i 0) }}addr={{ $n }}{{ end }}
{{- else if eq $r.mode "sentinel" }}
{{- if not $r.sentinel.nodes }}{{ fail "redis.sentinel.nodes: give at least one host:port in sentinel mode" }}{{ end }}
{{- if not $r.sentinel.masterName }}{{ fail "redis.sentinel.masterName is required in sentinel mode" }}{{ end }}
{{- $first := first $r.sentinel.nodes }}
{{- printf "%s://%s%s/%d?master_name=%s" $r.scheme (ternary ":$(SESSIONQ_REDIS_SENTINEL_PASSWORD)@" "" (eq (include "sessionq.sentinelAuth" .) "true")) $first (int $r.sentinel.db) (urlquery $r.sentinel.masterName) }}
{{- range rest $r.sentinel.nodes }}&addr={{ . }}{{ end }}
{{- if $auth }}&password=$(SESSIONQ_REDIS_PASSWORD){{ end }}
{{- else }}
{{- fail (printf "redis.mode must be single, cluster or sentinel: got %q" $r.mode) }}
{{- end }}
{{- end }}

{{/* The env every component shares: log level and Redis. The password
entries come first: the URL refers to them. */}}
{{- define "sessionq.env" -}}
{{- $secret := include "sessionq.secretName" . }}
- name: SESSIONQ_LOG_LEVEL
  value: {{ .Values.log.level | quote }}
{{- if include "sessionq.redisAuth" . }}
- name: SESSIONQ_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "sessionq.redisPasswordKey" . }}
{{- end }}
{{- if and (eq .Values.redis.mode "sentinel") (include "sessionq.sentinelAuth" .) }}
- name: SESSIONQ_REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "sessionq.sentinelPasswordKey" . }}
{{- end }}
- name: SESSIONQ_REDIS_MODE
  value: {{ .Values.redis.mode | quote }}
- name: SESSIONQ_REDIS_URL
  value: {{ include "sessionq.redisURL" . | quote }}
{{- end }}

{{/* A component's own env: (dict "root" $ "c" .Values.worker). */}}
{{- define "sessionq.componentEnv" -}}
{{- $secret := include "sessionq.secretName" .root }}
{{- range $name, $key := .c.secretEnv }}
{{- if not (hasPrefix "SESSIONQ_" $name) }}{{ fail (printf "secretEnv %s: names must start with SESSIONQ_ so that exec commands do not inherit them" $name) }}{{ end }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
{{- end }}
{{- with .c.env }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* HTTP probes on a named port: (dict "root" $ "port" "metrics"). */}}
{{- define "sessionq.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  {{- toYaml .root.Values.probes.liveness | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .port }}
  {{- toYaml .root.Values.probes.readiness | nindent 2 }}
{{- end }}

{{/* Pod-level scheduling and security of a component. */}}
{{- define "sessionq.podSpecCommon" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Pod annotations: the Secret's checksum, so that a changed Secret rolls the pods. */}}
{{- define "sessionq.podAnnotations" -}}
{{- if not .root.Values.secret.existingSecret }}
checksum/secret: {{ include (print .root.Template.BasePath "/secret.yaml") .root | sha256sum }}
{{- end }}
{{- with .c.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}
