// The experiment's statistics (see stats.h): group summaries, pooled variance, Welch's t-test,
// and the Student t distribution behind them. The t cdf goes through the regularized incomplete
// beta function, evaluated by its continued fraction with the modified Lentz method; the
// quantile inverts the cdf by safeguarded Newton steps. Derivations: docs/statistics.md.
// Tested in tests/test_experiment_stats.cpp.
#include "experiment/stats.h"

#include <cmath>
#include <limits>

#include "tensor/error.h"

namespace ember::experiment {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = 3.141592653589793238462643383279502884;

// --- input checks and sums --------------------------------------------------------------------

// Every value of a group must be a number: a NaN accuracy means a run went wrong, and averaging
// it away (or propagating it silently into a report) would hide that.
void check_values(const std::vector<double>& values, const char* where, const std::string& group) {
  EMBER_CHECK(!values.empty(), where, ": group '", group, "' has no runs");
  for (std::size_t i = 0; i < values.size(); ++i)
    EMBER_CHECK(std::isfinite(values[i]), where, ": group '", group, "' run ", i, " is ",
                values[i], " (every value must be finite)");
}

// Mean of a non-empty sample, shifted by its first value: exact when all values are equal (so a
// group with zero spread gets sd == 0 exactly, not 1e-17) and less cancellation otherwise.
double mean_of(const std::vector<double>& values) {
  const double origin = values.front();
  double sum = 0.0;
  for (double v : values) sum += v - origin;
  return origin + sum / static_cast<double>(values.size());
}

// Sum of squared deviations from the mean (two passes: the mean first, then the squares).
double sum_squared_deviations(const std::vector<double>& values, double mean) {
  double sum = 0.0;
  for (double v : values) sum += (v - mean) * (v - mean);
  return sum;
}

// --- incomplete beta --------------------------------------------------------------------------

// The continued fraction of I_x(a, b) (valid and quickly convergent for x < (a+1)/(a+b+2)):
//   I_x(a, b) = x^a (1-x)^b / (a B(a, b)) * 1 / (1 + d1 / (1 + d2 / (1 + ...)))
//   d_{2m+1} = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1)),   d_{2m} = m(b-m) x / ((a+2m-1)(a+2m)).
// Evaluated front to back with the modified Lentz method: the value after j terms is the product
// of the ratios C_j D_j, and C, D are kept away from zero by a tiny floor instead of failing.
double beta_continued_fraction(double a, double b, double x) {
  constexpr double tiny = 1e-300;
  constexpr double tolerance = 1e-16;
  constexpr int max_terms = 200000;
  double f = tiny, c = tiny, d = 0.0;
  for (int j = 1; j <= max_terms; ++j) {
    double numerator = 1.0;  // the leading 1 / (1 + ...)
    if (j > 1) {
      const int k = j - 1;
      const double m = static_cast<double>(k / 2);
      numerator = (k % 2 == 1) ? -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                               : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
    }
    d = 1.0 + numerator * d;
    if (std::fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    c = 1.0 + numerator / c;
    if (std::fabs(c) < tiny) c = tiny;
    const double delta = c * d;
    f *= delta;
    if (j > 1 && std::fabs(delta - 1.0) < tolerance) return f;
  }
  EMBER_FAIL("regularized_incomplete_beta: continued fraction did not converge for a=", a,
             ", b=", b, ", x=", x);
}

// Stirling's remainder delta(z) = lgamma(z) - ((z - 1/2) log z - z + log(2 pi) / 2), a small
// number (about 1/(12 z)). For z >= 10 its asymptotic series is accurate to ~1e-14 after five
// terms; below that the subtraction from lgamma loses at most a few ulps of numbers below ~15.
double stirling_remainder(double z) {
  if (z >= 10.0) {
    const double r = 1.0 / (z * z);
    return (1.0 / 12 - r * (1.0 / 360 - r * (1.0 / 1260 - r * (1.0 / 1680 - r / 1188)))) / z;
  }
  return std::lgamma(z) - ((z - 0.5) * std::log(z) - z + 0.5 * std::log(2.0 * kPi));
}

// x^a y^b / B(a, b), with y = 1 - x. Written through Stirling's formula as
//   sqrt(ab / (2 pi (a+b))) * (x (a+b) / a)^a * (y (a+b) / b)^b * exp(d(a+b) - d(a) - d(b)),
// because exp(a log x + b log y - lgamma(a) - lgamma(b) + lgamma(a+b)) subtracts numbers of size
// a log a (it was off by 4e-12 on I_{1/2}(5000, 5000) = 1/2; this form: 3e-15).
double beta_power_terms(double a, double b, double x, double y) {
  // log(x (a+b) / a): near 1 as log1p of the relative distance (x (a+b) - a) / a, computed as
  // (x b - y a) / a without forming 1 - x; far from 1 directly, where log1p(-1 + tiny) would
  // lose the tiny part. Likewise for y with b.
  const double distance = x * b - y * a;
  const auto log_ratio = [](double relative_distance, double ratio) {
    return std::fabs(relative_distance) < 0.5 ? std::log1p(relative_distance) : std::log(ratio);
  };
  const double log_powers = a * log_ratio(distance / a, x * ((a + b) / a)) +
                            b * log_ratio(-distance / b, y * ((a + b) / b));
  const double log_remainders =
      stirling_remainder(a + b) - stirling_remainder(a) - stirling_remainder(b);
  return std::sqrt(a * b / (2.0 * kPi * (a + b))) * std::exp(log_powers + log_remainders);
}

// I_x(a, b) with y = 1 - x given separately (it may be known more precisely than 1 - x).
double incomplete_beta(double a, double b, double x, double y) {
  if (x <= 0.0) return 0.0;
  if (y <= 0.0) return 1.0;
  // Beyond the fraction's good region use the symmetry I_x(a, b) = 1 - I_{1-x}(b, a).
  if (x > (a + 1.0) / (a + b + 2.0)) return 1.0 - incomplete_beta(b, a, y, x);
  return beta_power_terms(a, b, x, y) / a * beta_continued_fraction(a, b, x);
}

// --- Student t --------------------------------------------------------------------------------

void check_dof(double dof, const char* where) {
  EMBER_CHECK(dof > 0.0, where, ": degrees of freedom must be > 0, got ", dof);
}

double normal_sf(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

// P(T > t) for t >= 0: 0.5 * I_x(dof/2, 1/2) with x = dof / (dof + t^2). Both x and 1 - x are
// formed without subtraction, and without overflow for huge t.
double upper_tail(double t, double dof) {
  if (std::isinf(dof)) return normal_sf(t);
  if (std::isinf(t)) return 0.0;
  double x, y;
  if (t * t <= dof) {
    const double u = t * t / dof;  // <= 1
    x = 1.0 / (1.0 + u);
    y = u / (1.0 + u);
  } else {
    const double r = (dof / t) / t;  // < 1, may underflow to 0 for astronomic t
    x = r / (1.0 + r);
    y = 1.0 / (1.0 + r);
  }
  return 0.5 * incomplete_beta(0.5 * dof, 0.5, x, y);
}

// Density of the t distribution (standard normal for infinite dof), for the Newton steps.
double density(double t, double dof) {
  if (std::isinf(dof)) return std::exp(-0.5 * t * t) / std::sqrt(2.0 * kPi);
  const double log_norm = std::lgamma(0.5 * (dof + 1.0)) - std::lgamma(0.5 * dof) -
                          0.5 * std::log(dof * kPi);
  return std::exp(log_norm - 0.5 * (dof + 1.0) * std::log1p(t * t / dof));
}

}  // namespace

double regularized_incomplete_beta(double a, double b, double x) {
  EMBER_CHECK(a > 0.0 && b > 0.0 && std::isfinite(a) && std::isfinite(b),
              "regularized_incomplete_beta: a and b must be finite and > 0, got a=", a, ", b=", b);
  EMBER_CHECK(x >= 0.0 && x <= 1.0, "regularized_incomplete_beta: x must be in [0, 1], got ", x);
  return incomplete_beta(a, b, x, 1.0 - x);
}

double student_t_sf(double t, double dof) {
  check_dof(dof, "student_t_sf");
  EMBER_CHECK(!std::isnan(t), "student_t_sf: t is NaN");
  return t >= 0.0 ? upper_tail(t, dof) : 1.0 - upper_tail(-t, dof);
}

double student_t_cdf(double t, double dof) {
  check_dof(dof, "student_t_cdf");
  EMBER_CHECK(!std::isnan(t), "student_t_cdf: t is NaN");
  return t >= 0.0 ? 1.0 - upper_tail(t, dof) : upper_tail(-t, dof);
}

double student_t_quantile(double p, double dof) {
  check_dof(dof, "student_t_quantile");
  EMBER_CHECK(p > 0.0 && p < 1.0, "student_t_quantile: p must be in (0, 1), got ", p);
  if (p == 0.5) return 0.0;
  // Solve upper_tail(t) = tail for t > 0 and use the symmetry of the distribution; 1 - p is exact
  // for p >= 0.5, so the small tail keeps all its digits.
  const double tail = p < 0.5 ? p : 1.0 - p;
  const double sign = p < 0.5 ? -1.0 : 1.0;
  // Bracket: upper_tail decreases from 0.5 at t = 0; double hi until it is below the tail.
  double lo = 0.0, hi = 1.0;
  while (upper_tail(hi, dof) > tail) {
    lo = hi;
    hi *= 2.0;
    EMBER_CHECK(std::isfinite(hi), "student_t_quantile: no bracket for p=", p, ", dof=", dof);
  }
  // Newton on g(t) = upper_tail(t) - tail (g' = -density), falling back to bisection whenever a
  // step would leave the bracket; the bracket shrinks every iteration either way.
  double t = 0.5 * (lo + hi);
  for (int iteration = 0; iteration < 400; ++iteration) {
    const double g = upper_tail(t, dof) - tail;
    if (g == 0.0) break;
    if (g > 0.0) lo = t; else hi = t;
    double next = t + g / density(t, dof);
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    const bool converged = std::fabs(next - t) <= 1e-15 * std::fabs(next);
    t = next;
    if (converged || hi - lo <= 2e-16 * hi) break;
  }
  return sign * t;
}

// --- group statistics -------------------------------------------------------------------------

GroupStats summarize(const GroupRuns& runs, double confidence) {
  EMBER_CHECK(confidence > 0.0 && confidence < 1.0, "summarize: confidence must be in (0, 1), got ",
              confidence, " for group '", runs.group, "'");
  check_values(runs.values, "summarize", runs.group);
  GroupStats stats;
  stats.group = runs.group;
  stats.n = runs.values.size();
  stats.confidence = confidence;
  stats.mean = mean_of(runs.values);
  if (stats.n < 2) {  // one run says nothing about the spread: no sd, no interval
    stats.sd = stats.ci_low = stats.ci_high = kNaN;
    return stats;
  }
  const double n = static_cast<double>(stats.n);
  stats.sd = std::sqrt(sum_squared_deviations(runs.values, stats.mean) / (n - 1.0));
  const double half_width =
      student_t_quantile(0.5 * (1.0 + confidence), n - 1.0) * stats.sd / std::sqrt(n);
  stats.ci_low = stats.mean - half_width;
  stats.ci_high = stats.mean + half_width;
  return stats;
}

std::vector<GroupStats> summarize_all(const std::vector<GroupRuns>& groups, double confidence) {
  std::vector<GroupStats> out;
  out.reserve(groups.size());
  for (const GroupRuns& g : groups) out.push_back(summarize(g, confidence));
  return out;
}

PooledVariance pooled_variance(const std::vector<GroupRuns>& groups) {
  EMBER_CHECK(!groups.empty(), "pooled_variance: no groups");
  PooledVariance pooled;
  pooled.groups = groups.size();
  double squares = 0.0;
  for (const GroupRuns& g : groups) {
    check_values(g.values, "pooled_variance", g.group);
    pooled.runs += g.values.size();
    // A group of n runs has n - 1 independent deviations from its own mean; a single run has
    // none and adds 0 to both sums.
    squares += sum_squared_deviations(g.values, mean_of(g.values));
    pooled.degrees_of_freedom += g.values.size() - 1;
    if (g.values.size() >= 2) ++pooled.groups_used;
  }
  EMBER_CHECK(pooled.degrees_of_freedom > 0,
              "pooled_variance: no group has 2 or more runs (", pooled.groups,
              " groups of one run each say nothing about the spread between runs)");
  pooled.variance = squares / static_cast<double>(pooled.degrees_of_freedom);
  pooled.sd = std::sqrt(pooled.variance);
  return pooled;
}

double seed_pooled_variance(const std::vector<GroupRuns>& groups) {
  EMBER_CHECK(!groups.empty(), "seed_pooled_variance: no groups");
  double squares = 0.0;
  for (const GroupRuns& g : groups) {
    check_values(g.values, "seed_pooled_variance", g.group);
    EMBER_CHECK(g.values.size() == 3, "seed_pooled_variance: the seed's formula 1/(2|G|) * sum "
                "assumes 3 runs per group, but group '", g.group, "' has ", g.values.size(),
                " (use pooled_variance)");
    squares += sum_squared_deviations(g.values, mean_of(g.values));
  }
  return squares / (2.0 * static_cast<double>(groups.size()));
}

WelchTest welch_t_test(const std::vector<double>& a, const std::vector<double>& b) {
  check_values(a, "welch_t_test", "a");
  check_values(b, "welch_t_test", "b");
  WelchTest test;
  const double mean_a = mean_of(a), mean_b = mean_of(b);
  test.mean_difference = mean_a - mean_b;
  test.t = test.degrees_of_freedom = test.p_two_sided = kNaN;
  if (a.size() < 2 || b.size() < 2) {
    test.reason_undefined = detail::concat("Welch's t-test needs at least 2 runs in each sample "
                                           "(a has ", a.size(), ", b has ", b.size(), ")");
    return test;
  }
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  // Squared standard errors of the two means.
  const double se2_a = sum_squared_deviations(a, mean_a) / (na - 1.0) / na;
  const double se2_b = sum_squared_deviations(b, mean_b) / (nb - 1.0) / nb;
  const double se2 = se2_a + se2_b;
  if (se2 == 0.0) {
    test.reason_undefined = "both samples have zero variance (every run gave the same value), "
                            "so t is 0/0 or infinite";
    return test;
  }
  test.t = test.mean_difference / std::sqrt(se2);
  // Welch-Satterthwaite, written with the shares w = se2_x / se2 so that tiny variances cannot
  // underflow when squared: dof = 1 / (w_a^2 / (n_a - 1) + w_b^2 / (n_b - 1)).
  const double w_a = se2_a / se2, w_b = se2_b / se2;
  test.degrees_of_freedom = 1.0 / (w_a * w_a / (na - 1.0) + w_b * w_b / (nb - 1.0));
  test.p_two_sided = std::fmin(1.0, 2.0 * upper_tail(std::fabs(test.t), test.degrees_of_freedom));
  test.defined = true;
  return test;
}

}  // namespace ember::experiment
