{{/* Chart name, truncated to the 63 characters a label value may hold. */}}
{{- define "roomsync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-qualified unless the release name already contains the chart name. */}}
{{- define "roomsync.fullname" -}}
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

{{- define "roomsync.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "roomsync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "roomsync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Recommended labels on every object. */}}
{{- define "roomsync.labels" -}}
helm.sh/chart: {{ include "roomsync.chart" . }}
{{ include "roomsync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: roomsync
{{- end }}

{{- define "roomsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "roomsync.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "roomsync.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The name of the shard lease set: sharding.name, or the release's full name cut to 40 characters. */}}
{{- define "roomsync.leaseSet" -}}
{{- .Values.sharding.name | default (include "roomsync.fullname" . | trunc 40 | trimSuffix "-") }}
{{- end }}

{{/* Whether the operator serves all namespaces (ClusterRole for the resources) or a list of them (Roles). */}}
{{- define "roomsync.clusterwide" -}}
{{- if not .Values.watch.namespaces }}true{{ end }}
{{- end }}

{{/* RBAC rules for the resources the operator works on, shared by the ClusterRole and the per-namespace Roles. */}}
{{- define "roomsync.resourceRules" -}}
- apiGroups: [roomsync.io]
  resources: [roomsyncs]
  verbs: [get, list, watch, patch]
- apiGroups: [roomsync.io]
  resources: [roomsyncs/status]
  verbs: [patch]
- apiGroups: [roomsync.io]
  resources: [connections]
  verbs: [get, list, watch]
- apiGroups: [roomsync.io]
  resources: [connections/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}
