{{/* Labels the chart adds to every object; selectors stay deploy/base's (app.kubernetes.io/name). */}}
{{- define "podhooks.labels" -}}
app.kubernetes.io/name: podhooks
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "podhooks.tag" -}}
{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The Kubernetes objects of one file (YAML, "---" separated), as a list under "objects". */}}
{{- define "podhooks.objectsOf" -}}
{{- $text := .root.Files.Get .file }}
{{- if not $text }}{{ fail (printf "podhooks chart: %s is missing or empty (deploy/chart/base, deploy/chart/overlays and deploy/chart/components must link to deploy/base, deploy/overlays and deploy/components; package the chart with helm package, which follows the links)" .file) }}{{ end }}
{{- $objects := list }}
{{- range $raw := regexSplit "(?m)^---[ \\t]*$" $text -1 }}
{{- $o := fromYaml $raw }}
{{- if hasKey $o "Error" }}{{ fail (printf "podhooks chart: %s: %s" $.file $o.Error) }}{{ end }}
{{- if $o.kind }}{{ $objects = append $objects $o }}{{ end }}
{{- end }}
{{- toJson (dict "objects" $objects) }}
{{- end }}

{{/* A value the chart owns may be repeated in config:, but not contradicted. */}}
{{- define "podhooks.owned" -}}
{{- if and (ne .given nil) (ne (toJson .given) (toJson .want)) }}
{{- fail (printf "podhooks chart: config.%s is %s, but the chart sets it to %s from %s; set that value instead" .path (toJson .given) (toJson .want) .from) }}
{{- end }}
{{- end }}

{{/* The podhooks config file: deploy/base/config.yaml's, then config:, then what the chart owns. */}}
{{- define "podhooks.config" -}}
{{- $base := dict }}
{{- range (fromJson (include "podhooks.objectsOf" (dict "root" . "file" "base/config.yaml"))).objects }}
{{- if and (eq .kind "ConfigMap") (eq .metadata.name "podhooks-config") }}{{ $base = fromYaml (index .data "config.yaml") }}{{ end }}
{{- end }}
{{- $user := deepCopy (.Values.config | default dict) }}
{{- $timeout := .Values.webhooks.timeoutSeconds }}
{{- include "podhooks.owned" (dict "path" "namespace" "given" (dig "namespace" nil $user) "want" .Release.Namespace "from" "the release namespace") }}
{{- include "podhooks.owned" (dict "path" "serviceName" "given" (dig "serviceName" nil $user) "want" "podhooks" "from" "the Service deploy/base defines") }}
{{- include "podhooks.owned" (dict "path" "server.webhookTimeoutSeconds" "given" (dig "server" "webhookTimeoutSeconds" nil $user) "want" $timeout "from" "webhooks.timeoutSeconds") }}
{{- include "podhooks.owned" (dict "path" "authz.replicas" "given" (dig "authz" "replicas" nil $user) "want" .Values.replicaCount "from" "replicaCount") }}
{{- $mode := ternary "secret" "files" (eq .Values.certificates.provider "self-managed") }}
{{- include "podhooks.owned" (dict "path" "certificates.mode" "given" (dig "certificates" "mode" nil $user) "want" $mode "from" (printf "certificates.provider %s" .Values.certificates.provider)) }}
{{- include "podhooks.owned" (dict "path" "validation.engine" "given" (dig "validation" "engine" nil $user) "want" .Values.validation.engine "from" "validation.engine (the chart installs the admission policies and webhooks for it)") }}
{{- $owned := dict "namespace" .Release.Namespace "serviceName" "podhooks" "server" (dict "webhookTimeoutSeconds" $timeout) "authz" (dict "replicas" .Values.replicaCount) }}
{{- $config := mergeOverwrite (deepCopy $base) $user $owned }}
{{- if not (dig "injection" "toolsImage" nil $user) }}
{{- $_ := set $config "injection" (mergeOverwrite (dig "injection" dict $config) (dict "toolsImage" (printf "%s/%s:%s" .Values.image.registry .Values.image.tools (include "podhooks.tag" .)))) }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* A CEL string literal, as the renderer writes it (src/validate/text.ts celQuote). */}}
{{- define "podhooks.celQuote" -}}
{{- $s := . | replace "\\" "\\\\" | replace "'" "\\'" }}
{{- range $i := until 32 }}{{ $s = replace (printf "%c" $i) (printf "\\u%04x" $i) $s }}{{ end }}
{{- printf "'%s'" $s }}
{{- end }}

{{/* A string's text inside a JSON string, as JavaScript's JSON.stringify writes it. */}}
{{- define "podhooks.jsonInner" -}}
{{- $s := . | replace "\\" "\\\\" | replace "\"" "\\\"" }}
{{- $short := dict "8" "\\b" "9" "\\t" "10" "\\n" "12" "\\f" "13" "\\r" }}
{{- range $i := until 32 }}{{ $s = replace (printf "%c" $i) (get $short (toString $i) | default (printf "\\u%04x" $i)) $s }}{{ end }}
{{- $s }}
{{- end }}
