{{/* Object names: the release name, or <release>-headless-reconciler when it lacks the chart's. */}}
{{- define "headless-reconciler.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "headless-reconciler.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "headless-reconciler.labels" -}}
{{ include "headless-reconciler.selectorLabels" . }}
app.kubernetes.io/component: controller
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Whether the controller writes cluster-wide through its ClusterRole. */}}
{{- define "headless-reconciler.writesClusterWide" -}}
{{- if and (not .Values.observeOnly) (empty .Values.scope.namespaces) -}}true{{- end -}}
{{- end -}}

{{- define "headless-reconciler.electsLeader" -}}
{{- if and (not .Values.observeOnly) .Values.leaderElection.enabled -}}true{{- end -}}
{{- end -}}

{{/* The writes the controller makes: merge patches of the entries it keeps, its paired
Services, Events. The same list for the ClusterRole and for each namespace's Role. */}}
{{- define "headless-reconciler.writeRules" -}}
- apiGroups: [""]
  resources: [services]
  verbs: [create, patch, delete]
- apiGroups: [networking.istio.io]
  resources: [serviceentries, workloadentries]
  verbs: [patch]
- apiGroups: [networking.istio.io]
  resources: [workloadentries/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end -}}
