{{/* vim: set filetype=mustache: */}}
{{- define "vigil.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vigil.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "vigil.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "vigil.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* vigil.selectorLabels: call with (dict "ctx" $ "component" "agent") */}}
{{- define "vigil.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vigil.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "vigil.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "vigil.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
vigil.gatewayServiceAccountName: the gateway's own account. It is bound to no
role: the gateway does not talk to the API server, so it must not hold the
agent's read access to every pod.
*/}}
{{- define "vigil.gatewayServiceAccountName" -}}
{{- if .Values.gateway.serviceAccount.create -}}
{{- default (printf "%s-gateway" (include "vigil.fullname" .) | trunc 63 | trimSuffix "-") .Values.gateway.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.gateway.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "vigil.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "vigil.gatewayHeadless" -}}
{{- printf "%s-gateway-headless" (include "vigil.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
vigil.memoryBytes converts a Kubernetes memory quantity (512Mi, 1Gi, 1G,
500M, 1073741824) to bytes. Fractions ("1.5Gi") are accepted. Call with
the quantity as a string.
*/}}
{{- define "vigil.memoryBytes" -}}
{{- $q := toString . -}}
{{- $units := list (list "Ki" 1024) (list "Mi" 1048576) (list "Gi" 1073741824) (list "Ti" 1099511627776) (list "k" 1000) (list "K" 1000) (list "M" 1000000) (list "G" 1000000000) (list "T" 1000000000000) -}}
{{- $mult := 1 -}}
{{- $num := $q -}}
{{- range $units -}}
{{- if and (eq $mult 1) (hasSuffix (index . 0) $q) -}}
{{- $mult = index . 1 -}}
{{- $num = trimSuffix (index . 0) $q -}}
{{- end -}}
{{- end -}}
{{- if not (regexMatch "^[0-9]+(\\.[0-9]+)?$" $num) -}}
{{- fail (printf "memory limit %q: want a number with an optional Ki/Mi/Gi/Ti/K/M/G/T suffix" $q) -}}
{{- end -}}
{{- mulf (float64 $num) $mult | int64 -}}
{{- end -}}

{{/*
vigil.gomemlimit: GOMEMLIMIT in MiB from a resources block and a percentage.
Call with (dict "resources" .Values.agent.resources "percent" .Values.agent.goMemLimitPercent).
Empty when no memory limit is set.
*/}}
{{- define "vigil.gomemlimit" -}}
{{- $lim := dig "limits" "memory" "" .resources -}}
{{- if $lim -}}
{{- $pct := int .percent -}}
{{- if or (lt $pct 1) (gt $pct 100) -}}
{{- fail (printf "goMemLimitPercent %d: must be between 1 and 100" $pct) -}}
{{- end -}}
{{- $bytes := include "vigil.memoryBytes" $lim | float64 -}}
{{- printf "%dMiB" (divf (mulf $bytes $pct) 104857600 | floor | int64) -}}
{{- end -}}
{{- end -}}

{{/* vigil.env: env shared by agent and gateway containers. */}}
{{- define "vigil.commonEnv" -}}
- name: K8S_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: K8S_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end -}}

{{/*
vigil.hopToken / vigil.hopTLS: whether the agent -> gateway hop uses a
bearer token / TLS (only with a gateway).
*/}}
{{- define "vigil.hopToken" -}}
{{- if and .Values.gateway.enabled .Values.hopSecurity.token.enabled }}true{{ end -}}
{{- end -}}
{{- define "vigil.hopTLS" -}}
{{- if and .Values.gateway.enabled .Values.hopSecurity.tls.enabled }}true{{ end -}}
{{- end -}}

{{/* vigil.hopTLSSecret: the Secret with the gateway's certificate. */}}
{{- define "vigil.hopTLSSecret" -}}
{{- default (printf "%s-gateway-tls" (include "vigil.fullname" .)) .Values.hopSecurity.tls.secretName -}}
{{- end -}}

{{/* vigil.hopServerName: the name the agents verify in the gateway's certificate. */}}
{{- define "vigil.hopServerName" -}}
{{- default (printf "%s-gateway.%s.svc" (include "vigil.fullname" .) .Release.Namespace) .Values.hopSecurity.tls.serverName -}}
{{- end -}}

{{/* vigil.hopTokenEnv: the VIGIL_HOP_TOKEN env var, from the Secret. */}}
{{- define "vigil.hopTokenEnv" -}}
{{- if include "vigil.hopToken" . }}
{{- if not .Values.hopSecurity.token.secretName }}
{{- fail "hopSecurity.token.enabled needs hopSecurity.token.secretName (a Secret holding the token)" }}
{{- end }}
- name: VIGIL_HOP_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.hopSecurity.token.secretName }}
      key: {{ .Values.hopSecurity.token.secretKey }}
{{- end }}
{{- end -}}
