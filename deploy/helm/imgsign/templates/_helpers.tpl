{{/* The name of every object: fullnameOverride, else the release name when it
contains the chart's name, else RELEASE-CHART. */}}
{{- define "imgsign.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object; also the Pods' selector. The same as
deploy/kubernetes, so the two render the same objects. */}}
{{- define "imgsign.labels" -}}
app.kubernetes.io/name: {{ include "imgsign.fullname" . }}
{{- end -}}

{{- define "imgsign.keysSecret" -}}
{{- .Values.keys.secretName | default (printf "%s-keys" (include "imgsign.fullname" .)) -}}
{{- end -}}

{{- define "imgsign.tlsSecret" -}}
{{- .Values.tls.secretName | default (printf "%s-tls" (include "imgsign.fullname" .)) -}}
{{- end -}}

{{- define "imgsign.dockerSecret" -}}
{{- .Values.dockerConfig.secretName | default (printf "%s-docker" (include "imgsign.fullname" .)) -}}
{{- end -}}

{{- define "imgsign.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The namespaces the webhooks never judge: webhook.excludeNamespaces and
always the release's own, so imgsign's Pods can start while it is down. */}}
{{- define "imgsign.excludedNamespaces" -}}
{{- $ns := .Values.webhook.excludeNamespaces | default list -}}
{{- if not (has .Release.Namespace $ns) -}}
{{- $ns = append $ns .Release.Namespace -}}
{{- end -}}
{{- toJson $ns -}}
{{- end -}}

{{/* One webhook's body, shared by the validating and mutating configurations;
call with (dict "root" $ "path" "/admission/validate"). */}}
{{- define "imgsign.webhook" -}}
{{- $root := .root -}}
clientConfig:
  service:
    namespace: {{ $root.Release.Namespace }}
    name: {{ include "imgsign.fullname" $root }}
    path: {{ .path }}
    port: 443
  {{- with $root.Values.tls.caBundle }}
  caBundle: {{ . }}
  {{- end }}
failurePolicy: {{ $root.Values.webhook.failurePolicy }}
sideEffects: None
admissionReviewVersions: [v1]
timeoutSeconds: {{ $root.Values.webhook.timeoutSeconds }}
matchPolicy: Equivalent
{{- if .mutating }}
reinvocationPolicy: IfNeeded
{{- end }}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ include "imgsign.excludedNamespaces" $root }}
rules:
  - operations: [CREATE, UPDATE]
    apiGroups: [""]
    apiVersions: [v1]
    resources: [pods, pods/ephemeralcontainers]
    scope: Namespaced
  - operations: [CREATE, UPDATE]
    apiGroups: [apps]
    apiVersions: [v1]
    resources: [deployments, replicasets, statefulsets, daemonsets]
    scope: Namespaced
  - operations: [CREATE, UPDATE]
    apiGroups: [batch]
    apiVersions: [v1]
    resources: [jobs, cronjobs]
    scope: Namespaced
{{- end -}}
