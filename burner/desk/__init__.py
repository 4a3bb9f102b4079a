"""The front desk: patients' requests, their due dates and fees, approval, hand-over and the
office's records (issue 12)."""
