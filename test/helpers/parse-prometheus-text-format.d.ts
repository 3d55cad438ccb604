// Types for the parse-prometheus-text-format package (it ships none): prom2json-shaped families.
declare module 'parse-prometheus-text-format' {
  interface PrometheusFamily {
    name: string;
    help: string;
    type: 'GAUGE' | 'COUNTER' | 'SUMMARY' | 'HISTOGRAM' | 'UNTYPED';
    metrics: Array<{ value: string; labels?: Record<string, string> }>;
  }
  export default function parsePrometheusTextFormat(text: string): PrometheusFamily[];
}
