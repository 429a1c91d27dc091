{{/*
The labels Helm's conventions add to every object of the release, next to the object's own.
*/}}
{{- define "clusterset.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The annotations by which the admission policy knows where a confined ServiceAccount may write;
the syncer's flags are made from the same values.
*/}}
{{- define "clusterset.writerAnnotations" -}}
multicluster.clusterset.io/denied-namespaces: {{ join "," .Values.exportNamespaces.denied | quote }}
multicluster.clusterset.io/allowed-namespaces: {{ join "," .Values.exportNamespaces.allowed | quote }}
{{- end }}
