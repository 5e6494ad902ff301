"""Eco-burial subsidy claims (节地生态安葬奖补, DOMAIN.md section 4): policies,
claims and their workflow, payment batches and totals."""
