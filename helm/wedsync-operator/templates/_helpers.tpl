{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "wedsync-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's resources, truncated to 63 characters: the release name,
plus the chart name unless the release name already contains it.
*/}}
{{- define "wedsync-operator.fullname" -}}
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

{{/* chart-version, as the helm.sh/chart label wants it. */}}
{{- define "wedsync-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "wedsync-operator.labels" -}}
helm.sh/chart: {{ include "wedsync-operator.chart" . }}
{{ include "wedsync-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: wedsync
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the operator's pods (immutable in a Deployment: keep them few). */}}
{{- define "wedsync-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wedsync-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "wedsync-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "wedsync-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* "true" when the replicas elect one active pod through a kopf peering object. */}}
{{- define "wedsync-operator.peering" -}}
{{- if or .Values.peering.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/* Name of the peering object. */}}
{{- define "wedsync-operator.peeringName" -}}
{{- default (include "wedsync-operator.fullname" .) .Values.peering.name }}
{{- end }}

{{/* The image reference: repository:tag, the tag defaulting to the appVersion. */}}
{{- define "wedsync-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
