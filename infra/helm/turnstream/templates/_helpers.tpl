{{/* Chart name, truncated to fit Kubernetes name limits. */}}
{{- define "turnstream.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped base name of every object. */}}
{{- define "turnstream.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "turnstream.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "turnstream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: call with (dict "root" $ "component" "api"). */}}
{{- define "turnstream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "turnstream.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "turnstream.componentLabels" -}}
{{ include "turnstream.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "turnstream.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "turnstream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "turnstream.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "turnstream.configName" -}}
{{- printf "%s-config" (include "turnstream.fullname" .) -}}
{{- end -}}

{{- define "turnstream.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else if .Values.secrets.create -}}
{{- printf "%s-secrets" (include "turnstream.fullname" .) -}}
{{- else -}}
{{- fail "secrets: set secrets.existingSecret to the Secret holding DATABASE_URL, REDIS_URL and ANTHROPIC_API_KEY, or secrets.create=true with secrets.values" -}}
{{- end -}}
{{- end -}}

{{/* One env var from the release's Secret: call with (dict "root" $ "name" "DATABASE_URL" "key" "databaseUrl"). */}}
{{- define "turnstream.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "turnstream.secretName" .root }}
      key: {{ .secretKey | default (index .root.Values.secrets.keys .key) }}
{{- end -}}

{{/* Plain env vars from a map, in key order. */}}
{{- define "turnstream.envMap" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end -}}
{{- end -}}

{{/* Seconds Kubernetes waits after SIGTERM before killing a worker: the turns' grace plus a margin. */}}
{{- define "turnstream.workerTerminationGraceSeconds" -}}
{{- add (div (add .Values.worker.shutdownGraceMs 999) 1000) .Values.worker.shutdownMarginSeconds -}}
{{- end -}}

{{/* Seconds Kubernetes waits after SIGTERM before killing an API pod: preStop, drain, margin. */}}
{{- define "turnstream.apiTerminationGraceSeconds" -}}
{{- add .Values.api.preStopSleepSeconds (div (add .Values.api.shutdownTimeoutMs 999) 1000) 5 -}}
{{- end -}}

{{/* Turns per worker the autoscaler aims for: concurrency x target utilization. */}}
{{- define "turnstream.targetTurnsPerWorker" -}}
{{- max 1 (div (mul .Values.worker.concurrency .Values.keda.targetUtilizationPercent) 100) -}}
{{- end -}}

{{/* The demand metric of this release's queue, as a Prometheus selector. */}}
{{- define "turnstream.demandSelector" -}}
{{- printf "turnstream_queue_demand_turns{queue=%q}" .Values.fleet.turnsQueueName -}}
{{- end -}}

{{- define "turnstream.workerMetricsService" -}}
{{- printf "%s-worker-metrics" (include "turnstream.fullname" .) -}}
{{- end -}}

{{/* Soft spread of a component's replicas across nodes. */}}
{{- define "turnstream.topologySpread" -}}
topologySpreadConstraints:
  - maxSkew: {{ .root.Values.topologySpread.maxSkew }}
    topologyKey: {{ .root.Values.topologySpread.topologyKey }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "turnstream.selectorLabels" . | nindent 8 }}
{{- end -}}

{{/* /tmp is the only writable path when the root filesystem is read-only (Node's and libraries' temporary files). */}}
{{- define "turnstream.tmpVolume" -}}
volumes:
  - name: tmp
    emptyDir: {}
{{- end -}}

{{- define "turnstream.tmpMount" -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}
