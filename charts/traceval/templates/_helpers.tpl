{{/* Name of the chart, or nameOverride. */}}
{{- define "traceval.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, with the chart name unless it already contains it. */}}
{{- define "traceval.fullname" -}}
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

{{- define "traceval.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object of the chart. */}}
{{- define "traceval.labels" -}}
helm.sh/chart: {{ include "traceval.chart" . }}
{{ include "traceval.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: traceval
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels selecting the operator's pods. */}}
{{- define "traceval.selectorLabels" -}}
app.kubernetes.io/name: {{ include "traceval.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "traceval.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "traceval.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the leader-election Lease in the release namespace. */}}
{{- define "traceval.leaseName" -}}
{{- include "traceval.fullname" . }}
{{- end }}

{{/*
The operator's configuration: `traceval operator` reads each of these
environment variables as the value of the flag named next to it (clap
`#[arg(long, env = ...)]`, src/operator/args.rs). This is the one place to
align with the crate; tests/offline/chart_interface.rs fails when a variable
here is not one the binary reads, or its comment names another flag.
*/}}
{{- define "traceval.operatorEnv" -}}
- name: RUST_LOG                        # log filter
  value: {{ .Values.logLevel | quote }}
- name: TRACEVAL_HTTP_ADDR              # --http-addr: /metrics, /healthz, /readyz
  value: {{ printf "0.0.0.0:%v" .Values.metrics.port | quote }}
- name: TRACEVAL_LEADER_ELECT           # --leader-elect
  value: {{ .Values.leaderElection.enabled | quote }}
- name: TRACEVAL_LEASE_NAME             # --lease-name
  value: {{ include "traceval.leaseName" . | quote }}
- name: TRACEVAL_LEASE_NAMESPACE        # --lease-namespace
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: TRACEVAL_POD_NAME               # --instance: reporting instance in events, lease holder
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: TRACEVAL_EVALUATOR_IMAGE        # --evaluator-image: evaluation pods run the operator's image
  value: {{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) | quote }}
{{- with .Values.watchNamespaces }}
- name: TRACEVAL_WATCH_NAMESPACES       # --namespace: comma-separated; unset = all
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.defaultTraceEndpoint }}
- name: TRACEVAL_DEFAULT_TRACE_ENDPOINT # --default-trace-endpoint
  value: {{ . | quote }}
{{- end }}
{{- with .Values.defaultJudgePreset }}
- name: TRACEVAL_DEFAULT_JUDGE_PRESET   # --default-judge-preset
  value: {{ . | quote }}
{{- end }}
{{- with .Values.traceUIURL }}
- name: TRACEVAL_TRACE_UI_URL           # --trace-ui-url
  value: {{ . | quote }}
{{- end }}
{{- with .Values.ossSyncImage }}
- name: TRACEVAL_OSS_SYNC_IMAGE         # --oss-sync-image
  value: {{ . | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
