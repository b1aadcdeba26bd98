// The experiment's statistics: per-group mean, sample standard deviation and t-interval; the
// seed's pooled variance and its generalisation to unequal run counts; Welch's t-test of one
// group against another; and the Student t distribution they need (cdf and quantile through our
// own regularized incomplete beta function, a Lentz continued fraction). The formulas are the
// textbook ones (derived in docs/statistics.md); the seed's pooled variance is its blog post's
// sigma^2 = 1/(2|G|) * sum of squared deviations from the group means (3 runs per group).
// Tested in tests/test_experiment_stats.cpp against closed forms, standard t tables, values
// worked out by hand and values computed independently with mpmath.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace ember::experiment {

// One group of the experiment (e.g. "unbalanced"): one value per run (seed), e.g. test accuracy.
struct GroupRuns {
  std::string group;
  std::vector<double> values;
};

struct GroupStats {
  std::string group;
  std::size_t n = 0;
  double mean = 0.0;
  double sd = 0.0;          // sample standard deviation (divisor n - 1); NaN when n < 2
  double ci_low = 0.0;      // Student t interval for the mean; NaN when n < 2,
  double ci_high = 0.0;     // == mean when every run gave the same value
  double confidence = 0.0;  // e.g. 0.95
};

// Mean, sd and the two-sided t-interval mean -/+ t_{(1+confidence)/2, n-1} * sd / sqrt(n).
// Errors: no runs, a non-finite value, confidence outside (0, 1).
GroupStats summarize(const GroupRuns& runs, double confidence = 0.95);
// summarize() of each group, in order.
std::vector<GroupStats> summarize_all(const std::vector<GroupRuns>& groups, double confidence = 0.95);

struct PooledVariance {
  double variance = 0.0;
  double sd = 0.0;
  std::size_t groups = 0;              // groups passed in
  std::size_t runs = 0;                // runs in all groups
  std::size_t degrees_of_freedom = 0;  // sum over groups of (n_g - 1)
  std::size_t groups_used = 0;         // groups with 2+ runs (a single run carries no spread)
};

// Each group's runs centred on the group's mean, the squares summed over all groups and divided
// by sum_g (n_g - 1). With 3 runs per group that is exactly the seed's 1/(2|G|) * sum of squares.
// Groups with one run contribute nothing to either sum. Errors: no groups, an empty group, a
// non-finite value, no group with 2+ runs.
PooledVariance pooled_variance(const std::vector<GroupRuns>& groups);

// The seed's formula taken literally: 1/(2|G|) * sum of squared deviations from the group means.
// Only meaningful for 3 runs per group, so it requires exactly that (kept to show, in a test,
// that pooled_variance reproduces it).
double seed_pooled_variance(const std::vector<GroupRuns>& groups);

struct WelchTest {
  double mean_difference = 0.0;     // mean(a) - mean(b)
  double t = 0.0;                   // mean_difference / sqrt(var_a/n_a + var_b/n_b)
  double degrees_of_freedom = 0.0;  // Welch-Satterthwaite, not an integer in general
  double p_two_sided = 0.0;         // P(|T| >= |t|) under equal means
  bool defined = false;
  std::string reason_undefined;     // set when !defined; t, dof and p are then NaN
};

// Welch's unequal-variance t-test of a against b. Undefined (defined = false, with the reason)
// when either sample has fewer than 2 runs or both have zero variance. Errors: an empty sample,
// a non-finite value.
WelchTest welch_t_test(const std::vector<double>& a, const std::vector<double>& b);

// Student t distribution with dof > 0 degrees of freedom (not necessarily an integer; +infinity
// gives the standard normal). cdf = P(T <= t); sf = P(T > t), computed directly so that small
// upper tails keep their relative precision. Absolute error below ~1e-13 up to dof = 1e5 (where
// Welch's dof always is: it cannot exceed the number of runs); the continued fraction then needs
// ~sqrt(dof) terms and the error grows with them (~1e-12 at 1e6, ~1e-8 at 1e10).
double student_t_cdf(double t, double dof);
double student_t_sf(double t, double dof);
// The t with student_t_cdf(t, dof) = p, for p in (0, 1); relative accuracy about 1e-12.
double student_t_quantile(double p, double dof);

// I_x(a, b) = B(x; a, b) / B(a, b) for a, b > 0 and x in [0, 1].
double regularized_incomplete_beta(double a, double b, double x);

}  // namespace ember::experiment
