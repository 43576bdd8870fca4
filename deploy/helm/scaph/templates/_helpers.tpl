{{/* The name of every object: the release's, as Scaphandre's chart names them */}}
{{- define "scaph.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "scaph.labels" -}}
app.kubernetes.io/name: scaph-host
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "scaph.selector" -}}
app.kubernetes.io/name: scaph-host
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* A map of flags as arguments: --key=value, or --key for an empty value (Scaphandre's chart) */}}
{{- define "scaph.flags" -}}
{{- range $k, $v := . }}
{{- if or (eq (toString $v) "") (eq (toString $v) "<nil>") }}
- {{ printf "--%s" $k | quote }}
{{- else }}
- {{ printf "--%s=%v" $k $v | quote }}
{{- end }}
{{- end }}
{{- end -}}
