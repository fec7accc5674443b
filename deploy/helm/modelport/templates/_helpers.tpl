{{- define "modelport.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "modelport.labels" -}}
app.kubernetes.io/name: modelport
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: control-plane
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "modelport.selector" -}}
app.kubernetes.io/name: modelport
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
