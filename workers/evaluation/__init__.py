"""Model evaluation on a site's own labelled images: label CSVs, metrics, plots, reports and
threshold calibration. Kept import-light: workers import `workers.evaluation.thresholds` only."""
