-- Rows of clinic.patients that changed inside the run's data interval [start, end).
-- Ordered by key so a rerun writes byte-identical Parquet.
SELECT
    patient_id,
    age,
    sex,
    bmi,
    blood_pressure,
    s1_total_cholesterol,
    s2_ldl,
    s3_hdl,
    s4_tch_hdl_ratio,
    s5_log_triglycerides,
    s6_glucose,
    progression,
    updated_at
FROM clinic.patients
WHERE updated_at >= '{{ data_interval_start }}'::timestamptz
  AND updated_at <  '{{ data_interval_end }}'::timestamptz
ORDER BY patient_id, updated_at
