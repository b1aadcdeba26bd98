// experiment/stats.h: the incomplete beta function against its closed forms; the t cdf against
// the exact formulas for integer degrees of freedom (atan/sin/cos sums for odd dof, a finite sum
// for even dof), its symmetry, its large-dof expansion around the normal; t quantiles against
// standard tables; group summaries, pooled variance and Welch tests worked out by hand in the
// comments. Values that have no closed form were computed independently with mpmath 1.2
// (betainc at 40 digits; the script is quoted next to them).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "experiment/stats.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using namespace experiment;

constexpr double kPi = 3.141592653589793238462643383279502884;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// t cdf for even dof: 1/2 + u/2 * sum_{j < dof/2} (2j)! / (4^j j!^2) * (1 - u^2)^j with
// u = t / sqrt(dof + t^2) (dof = 2: 1/2 + t / (2 sqrt(2 + t^2))).
double even_dof_cdf(double t, int dof) {
  const double u = t / std::sqrt(dof + t * t);
  double sum = 0.0, coefficient = 1.0, power = 1.0;
  for (int j = 0; j < dof / 2; ++j) {
    if (j > 0) coefficient *= (2.0 * j - 1.0) / (2.0 * j);  // (2j)!/(4^j j!^2) recursively
    sum += coefficient * power;
    power *= 1.0 - u * u;
  }
  return 0.5 + 0.5 * u * sum;
}

// t cdf for odd dof: with theta = atan(t / sqrt(dof)), 1/2 + theta/pi for dof = 1 and
// 1/2 + (theta + sin cos * sum_{j <= (dof-3)/2} (2^j j!)^2 / (2j+1)! cos^{2j}) / pi otherwise.
double odd_dof_cdf(double t, int dof) {
  const double theta = std::atan(t / std::sqrt(static_cast<double>(dof)));
  if (dof == 1) return 0.5 + theta / kPi;
  const double c2 = std::cos(theta) * std::cos(theta);
  double sum = 0.0, coefficient = 1.0, power = 1.0;
  for (int j = 0; j <= (dof - 3) / 2; ++j) {
    if (j > 0) coefficient *= (2.0 * j) / (2.0 * j + 1.0);  // (2^j j!)^2/(2j+1)! recursively
    sum += coefficient * power;
    power *= c2;
  }
  return 0.5 + (theta + std::sin(theta) * std::cos(theta) * sum) / kPi;
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }
double normal_pdf(double z) { return std::exp(-0.5 * z * z) / std::sqrt(2.0 * kPi); }

TEST(ExperimentStatsBeta, ClosedForms) {
  for (double x : {0.0, 1e-9, 0.13, 0.5, 0.77, 0.999, 1.0}) {
    EXPECT_NEAR(regularized_incomplete_beta(1.0, 1.0, x), x, 1e-15) << x;
    for (double a : {0.3, 2.0, 7.5, 40.0})
      EXPECT_NEAR(regularized_incomplete_beta(a, 1.0, x), std::pow(x, a), 1e-14) << a << " " << x;
    for (double b : {0.3, 2.0, 7.5, 40.0})
      EXPECT_NEAR(regularized_incomplete_beta(1.0, b, x), 1.0 - std::pow(1.0 - x, b), 1e-14)
          << b << " " << x;
    // I_x(1/2, 1/2) = (2 / pi) asin(sqrt(x)) (the arcsine distribution).
    EXPECT_NEAR(regularized_incomplete_beta(0.5, 0.5, x), 2.0 / kPi * std::asin(std::sqrt(x)), 1e-14);
  }
  // Symmetric case at the middle, also for large parameters (long continued fraction).
  for (double a : {0.5, 3.0, 200.0, 5000.0})
    EXPECT_NEAR(regularized_incomplete_beta(a, a, 0.5), 0.5, 1e-12) << a;
  // Reflection I_x(a, b) = 1 - I_{1-x}(b, a).
  EXPECT_NEAR(regularized_incomplete_beta(2.5, 4.7, 0.3),
              1.0 - regularized_incomplete_beta(4.7, 2.5, 0.7), 1e-15);
}

TEST(ExperimentStatsBeta, AgainstMpmath) {
  // mpmath: betainc(a, b, 0, x, regularized=True) at mp.dps = 40.
  EXPECT_NEAR(regularized_incomplete_beta(2.5, 4.7, 0.3), 0.42778418179201247949, 1e-14);
  EXPECT_NEAR(regularized_incomplete_beta(50.0, 3.0, 0.9), 0.096633285137252124569, 1e-14);
  EXPECT_NEAR(regularized_incomplete_beta(0.5, 0.5, 0.02), 0.090334470601733096702, 1e-14);
}

TEST(ExperimentStatsBeta, RejectsBadArguments) {
  EXPECT_ERROR_MENTIONS(regularized_incomplete_beta(0.0, 1.0, 0.5), "a and b must be");
  EXPECT_ERROR_MENTIONS(regularized_incomplete_beta(1.0, -2.0, 0.5), "b=-2");
  EXPECT_ERROR_MENTIONS(regularized_incomplete_beta(1.0, 1.0, 1.5), "x must be in [0, 1]");
  EXPECT_ERROR_MENTIONS(regularized_incomplete_beta(1.0, 1.0, kNaN), "x must be in [0, 1]");
}

TEST(ExperimentStatsT, CdfMatchesExactFormsForIntegerDof) {
  for (double t : {-40.0, -3.1, -1.0, -0.2, 0.0, 0.4, 1.7, 2.5, 9.0, 1e3}) {
    // dof = 1 (Cauchy) and dof = 2 in the forms everyone knows, then the general families.
    EXPECT_NEAR(student_t_cdf(t, 1.0), 0.5 + std::atan(t) / kPi, 1e-15) << t;
    EXPECT_NEAR(student_t_cdf(t, 2.0), 0.5 + t / (2.0 * std::sqrt(2.0 + t * t)), 1e-15) << t;
    for (int dof : {3, 5, 7, 11, 31})
      EXPECT_NEAR(student_t_cdf(t, dof), odd_dof_cdf(t, dof), 1e-14) << t << " dof " << dof;
    for (int dof : {4, 6, 10, 30})
      EXPECT_NEAR(student_t_cdf(t, dof), even_dof_cdf(t, dof), 1e-14) << t << " dof " << dof;
  }
}

TEST(ExperimentStatsT, SymmetryAndTails) {
  for (double dof : {0.7, 1.0, 2.0, 5.5, 29.0, 1e4})
    for (double t : {0.0, 0.3, 1.96, 4.0, 25.0}) {
      EXPECT_NEAR(student_t_cdf(-t, dof), 1.0 - student_t_cdf(t, dof), 1e-15) << t << " " << dof;
      EXPECT_DOUBLE_EQ(student_t_sf(t, dof), student_t_cdf(-t, dof)) << t << " " << dof;
    }
  EXPECT_EQ(student_t_cdf(0.0, 3.0), 0.5);
  EXPECT_EQ(student_t_cdf(kInf, 3.0), 1.0);
  EXPECT_EQ(student_t_cdf(-kInf, 3.0), 0.0);
  // Small upper tails keep their relative precision (no 1 - cdf cancellation). Exact for dof=2:
  // sf(t) = 1/2 - t / (2 sqrt(2 + t^2)) = 1 / (sqrt(2 + t^2) (sqrt(2 + t^2) + t)).
  const double t = 1e4, r = std::sqrt(2.0 + t * t);
  EXPECT_NEAR(student_t_sf(t, 2.0) / (1.0 / (r * (r + t))), 1.0, 1e-12);
  // mpmath (non-integer dof and a far tail): cdf(1.7; 5.5), sf(50; 3), sf(8; 0.7).
  EXPECT_NEAR(student_t_cdf(1.7, 5.5), 0.92773566511691030827, 1e-14);
  EXPECT_NEAR(student_t_sf(50.0, 3.0) / 8.808576020635987078e-6, 1.0, 1e-12);
  EXPECT_NEAR(student_t_sf(8.0, 0.7), 0.07232968243036778703, 1e-14);
}

TEST(ExperimentStatsT, LargeDofApproachesTheNormal) {
  // F_dof(t) = Phi(t) - phi(t) (t^3 + t) / (4 dof) + O(1 / dof^2): at dof = 1e4 the first-order
  // term is ~1e-5 (so a plain normal would fail the 1e-8 bound) and the rest is below 1e-9.
  const double dof = 1e4;
  for (double t : {-1.3, 0.5, 2.0}) {
    EXPECT_GT(std::fabs(student_t_cdf(t, dof) - normal_cdf(t)), 1e-6) << t;
    EXPECT_NEAR(student_t_cdf(t, dof), normal_cdf(t) - normal_pdf(t) * (t * t * t + t) / (4 * dof),
                2e-9) << t;
  }
  // dof = 1e6 (mpmath: 1 - betainc(dof/2, 1/2, 0, dof/(dof+t^2), regularized=True)/2). The
  // continued fraction needs ~sqrt(dof) terms there and its rounding grows with them (documented
  // in stats.h); an experiment's dof never exceeds its total number of runs.
  EXPECT_NEAR(student_t_cdf(1.96, 1e6), 0.9750019662073651067334, 1e-11);
  EXPECT_NEAR(student_t_cdf(1.96, kInf), 0.97500210485177956586, 1e-15);
  EXPECT_NEAR(student_t_quantile(0.975, kInf), 1.9599639845400542355, 1e-12);
}

TEST(ExperimentStatsT, QuantilesMatchTables) {
  // Two-sided 95% critical values. dof = 1 is tan(0.475 pi) and dof = 2 is
  // 0.95 sqrt(2 / (1 - 0.95^2)) = 4.3026527297494638523 (the brief handed us 4.302652729911275,
  // which is off from the 10th digit; mpmath and the closed form agree on ...749464).
  EXPECT_NEAR(student_t_quantile(0.975, 1.0), 12.706204736174704646, 1e-11);
  EXPECT_NEAR(student_t_quantile(0.975, 2.0), 4.3026527297494638523, 1e-12);
  EXPECT_NEAR(student_t_quantile(0.975, 4.0), 2.776445105197793, 1e-12);
  EXPECT_NEAR(student_t_quantile(0.975, 10.0), 2.228138851986274, 1e-12);
  // mpmath findroot on the betainc cdf: t_{0.995,5}, t_{0.95,30}, t_{0.975,2.5}.
  EXPECT_NEAR(student_t_quantile(0.995, 5.0), 4.0321429835552280784, 1e-12);
  EXPECT_NEAR(student_t_quantile(0.95, 30.0), 1.6972608865939578486, 1e-12);
  EXPECT_NEAR(student_t_quantile(0.975, 2.5), 3.5746548420036832185, 1e-12);
  // Lower tail by symmetry, the median, and far tails that invert the cdf.
  EXPECT_NEAR(student_t_quantile(0.025, 4.0), -2.776445105197793, 1e-12);
  EXPECT_EQ(student_t_quantile(0.5, 7.0), 0.0);
  for (double dof : {0.6, 1.0, 3.0, 41.5})
    for (double p : {1e-10, 0.01, 0.3, 0.8, 0.999999}) {
      const double t = student_t_quantile(p, dof);
      const double back = p < 0.5 ? student_t_cdf(t, dof) : student_t_sf(t, dof);
      EXPECT_NEAR(back / (p < 0.5 ? p : 1.0 - p), 1.0, 1e-10) << p << " dof " << dof;
    }
  // dof = 1, p = 1 - 1e-9: tan(pi (p - 1/2)) = 1 / tan(pi * 1e-9).
  EXPECT_NEAR(student_t_quantile(1.0 - 1e-9, 1.0) * std::tan(kPi * 1e-9), 1.0, 1e-6);
}

TEST(ExperimentStatsT, RejectsBadArguments) {
  EXPECT_ERROR_MENTIONS(student_t_cdf(1.0, 0.0), "degrees of freedom must be > 0");
  EXPECT_ERROR_MENTIONS(student_t_cdf(1.0, kNaN), "degrees of freedom must be > 0");
  EXPECT_ERROR_MENTIONS(student_t_cdf(kNaN, 3.0), "t is NaN");
  EXPECT_ERROR_MENTIONS(student_t_quantile(1.0, 3.0), "p must be in (0, 1)");
  EXPECT_ERROR_MENTIONS(student_t_quantile(0.0, 3.0), "p must be in (0, 1)");
  EXPECT_ERROR_MENTIONS(student_t_quantile(0.9, -1.0), "degrees of freedom must be > 0");
}

TEST(ExperimentStatsSummary, IntervalOfAKnownSample) {
  // {1, 2, 3, 4, 5}: mean 3, squared deviations 4+1+0+1+4 = 10, sd = sqrt(10/4) = sqrt(2.5),
  // standard error sqrt(2.5/5) = sqrt(0.5); 95% half-width t_{0.975,4} sqrt(0.5) = 1.96324...
  const GroupStats s = summarize({"g", {1, 2, 3, 4, 5}});
  EXPECT_EQ(s.group, "g");
  EXPECT_EQ(s.n, 5u);
  EXPECT_DOUBLE_EQ(s.mean, 3.0);
  EXPECT_DOUBLE_EQ(s.sd, std::sqrt(2.5));
  EXPECT_EQ(s.confidence, 0.95);
  const double half = 2.776445105197793 * std::sqrt(0.5);
  EXPECT_NEAR(half, 1.963243161, 1e-9);
  EXPECT_NEAR(s.ci_low, 3.0 - half, 1e-12);
  EXPECT_NEAR(s.ci_high, 3.0 + half, 1e-12);
  // 90%: t_{0.95,4} = 2.131846786 (table).
  const GroupStats s90 = summarize({"g", {1, 2, 3, 4, 5}}, 0.90);
  EXPECT_NEAR(s90.ci_high - s90.mean, 2.131846786 * std::sqrt(0.5), 1e-8);
  // Two runs of an accuracy: {0.91, 0.93}, sd = 0.02/sqrt(2), half-width t_{0.975,1} * 0.01 =
  // 0.127: the interval spans 0.79..1.05, the caveat of few runs in one line.
  const GroupStats two = summarize({"two", {0.91, 0.93}});
  EXPECT_NEAR(two.ci_high - two.mean, 12.706204736174705 * 0.01, 1e-12);
}

TEST(ExperimentStatsSummary, ZeroVarianceAndSingleRun) {
  // Every run gave the same value: sd is exactly 0 and the interval collapses onto the mean.
  const GroupStats same = summarize({"same", {0.9, 0.9, 0.9}});
  EXPECT_EQ(same.mean, 0.9);
  EXPECT_EQ(same.sd, 0.0);
  EXPECT_EQ(same.ci_low, 0.9);
  EXPECT_EQ(same.ci_high, 0.9);
  // One run: a mean but no spread and no interval.
  const GroupStats one = summarize({"one", {0.8}});
  EXPECT_EQ(one.n, 1u);
  EXPECT_EQ(one.mean, 0.8);
  EXPECT_TRUE(std::isnan(one.sd));
  EXPECT_TRUE(std::isnan(one.ci_low));
  EXPECT_TRUE(std::isnan(one.ci_high));
  const std::vector<GroupStats> all = summarize_all({{"a", {1, 3}}, {"b", {2}}});
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].group, "a");
  EXPECT_DOUBLE_EQ(all[0].sd, std::sqrt(2.0));
  EXPECT_EQ(all[1].n, 1u);
}

TEST(ExperimentStatsSummary, RejectsBadInput) {
  EXPECT_ERROR_MENTIONS(summarize({"empty", {}}), "group 'empty' has no runs");
  testing::expect_error([] { summarize({"full", {0.9, kNaN, 0.8}}); },
                        {"summarize", "group 'full' run 1", "nan", "finite"});
  EXPECT_ERROR_MENTIONS(summarize({"full", {0.9, kInf}}), "run 1 is inf");
  EXPECT_ERROR_MENTIONS(summarize({"g", {1, 2}}, 1.0), "confidence must be in (0, 1)");
  EXPECT_ERROR_MENTIONS(summarize({"g", {1, 2}}, 95.0), "got 95");
}

TEST(ExperimentStatsPooled, EqualsTheSeedFormulaForThreeRuns) {
  // By hand: {1,2,3} mean 2, squares 1+0+1 = 2; {2,4,6} mean 4, 4+0+4 = 8; {0,0,3} mean 1,
  // 1+1+4 = 6. Sum 16; seed: 16 / (2*3) = 8/3; pooled: 16 / (2+2+2) = 8/3.
  const std::vector<GroupRuns> groups = {{"a", {1, 2, 3}}, {"b", {2, 4, 6}}, {"c", {0, 0, 3}}};
  EXPECT_DOUBLE_EQ(seed_pooled_variance(groups), 8.0 / 3.0);
  const PooledVariance p = pooled_variance(groups);
  EXPECT_DOUBLE_EQ(p.variance, 8.0 / 3.0);
  EXPECT_DOUBLE_EQ(p.sd, std::sqrt(8.0 / 3.0));
  EXPECT_EQ(p.groups, 3u);
  EXPECT_EQ(p.runs, 9u);
  EXPECT_EQ(p.degrees_of_freedom, 6u);
  EXPECT_EQ(p.groups_used, 3u);
  // Accuracies of the kind the experiment produces: the two agree to rounding.
  const std::vector<GroupRuns> accuracies = {{"full", {0.962, 0.958, 0.965}},
                                             {"unbalanced", {0.931, 0.944, 0.927}},
                                             {"weighted", {0.950, 0.939, 0.946}},
                                             {"augmented100", {0.933, 0.929, 0.941}}};
  const double seed = seed_pooled_variance(accuracies);
  EXPECT_NEAR(pooled_variance(accuracies).variance / seed, 1.0, 1e-13);
  EXPECT_GT(seed, 0.0);
}

TEST(ExperimentStatsPooled, UnequalRunCounts) {
  // {1,2,3}: squares 2, dof 2; {4,6}: mean 5, squares 1+1 = 2, dof 1; {5}: nothing;
  // {10,10,10,14}: mean 11, squares 1+1+1+9 = 12, dof 3. Pooled: 16 / 6 = 8/3. (The seed's
  // 1/(2|G|) with |G| = 4 would give 16/8 = 2: biased low when groups have fewer than 3 runs'
  // worth of freedom, biased high with more.)
  const std::vector<GroupRuns> groups = {
      {"a", {1, 2, 3}}, {"b", {4, 6}}, {"single", {5}}, {"d", {10, 10, 10, 14}}};
  const PooledVariance p = pooled_variance(groups);
  EXPECT_DOUBLE_EQ(p.variance, 8.0 / 3.0);
  EXPECT_EQ(p.groups, 4u);
  EXPECT_EQ(p.runs, 10u);
  EXPECT_EQ(p.degrees_of_freedom, 6u);
  EXPECT_EQ(p.groups_used, 3u);
  EXPECT_ERROR_MENTIONS(seed_pooled_variance(groups), "group 'b' has 2");
}

TEST(ExperimentStatsPooled, RejectsBadInput) {
  EXPECT_ERROR_MENTIONS(pooled_variance({}), "no groups");
  EXPECT_ERROR_MENTIONS(pooled_variance({{"a", {1}}, {"b", {2}}}), "no group has 2 or more runs");
  EXPECT_ERROR_MENTIONS(pooled_variance({{"a", {1, 2}}, {"b", {}}}), "group 'b' has no runs");
  EXPECT_ERROR_MENTIONS(pooled_variance({{"a", {1, kNaN}}}), "group 'a' run 1 is nan");
  EXPECT_ERROR_MENTIONS(seed_pooled_variance({}), "no groups");
}

TEST(ExperimentStatsWelch, HandComputedExampleWithIntegerDof) {
  // a = {13, 13, 10}: mean 12, squares 1+1+4 = 6, variance 3, squared standard error 3/3 = 1.
  // b = {8, 9, 10, 11, 12}: mean 10, squares 4+1+0+1+4 = 10, variance 2.5, se^2 2.5/5 = 0.5.
  // t = (12 - 10) / sqrt(1 + 0.5) = 2 / sqrt(1.5) = 1.63299...
  // dof = (1 + 0.5)^2 / (1^2/2 + 0.5^2/4) = 2.25 / 0.5625 = 4 exactly.
  // For dof 4, P(|T| >= t) = 1 - (3u - u^3)/2 with u = t / sqrt(4 + t^2); t^2 = 8/3, so
  // u^2 = (8/3) / (20/3) = 0.4 and p = 1 - u (3 - 0.4) / 2 = 1 - 1.3 sqrt(0.4) = 0.177808...
  const WelchTest w = welch_t_test({13, 13, 10}, {8, 9, 10, 11, 12});
  ASSERT_TRUE(w.defined) << w.reason_undefined;
  EXPECT_DOUBLE_EQ(w.mean_difference, 2.0);
  EXPECT_NEAR(w.t, 2.0 / std::sqrt(1.5), 1e-14);
  EXPECT_NEAR(w.degrees_of_freedom, 4.0, 1e-13);
  EXPECT_NEAR(w.p_two_sided, 1.0 - 1.3 * std::sqrt(0.4), 1e-13);
  EXPECT_NEAR(w.p_two_sided, 0.177808, 1e-6);
  // Swapping the samples flips the sign, nothing else.
  const WelchTest back = welch_t_test({8, 9, 10, 11, 12}, {13, 13, 10});
  EXPECT_DOUBLE_EQ(back.t, -w.t);
  EXPECT_DOUBLE_EQ(back.degrees_of_freedom, w.degrees_of_freedom);
  EXPECT_DOUBLE_EQ(back.p_two_sided, w.p_two_sided);
}

TEST(ExperimentStatsWelch, NonIntegerDofAgainstMpmath) {
  // a = {1,2,3}: mean 2, variance 1, se^2 1/3; b = {4,...,8}: mean 6, variance 2.5, se^2 1/2.
  // t = -4 / sqrt(5/6); dof = (5/6)^2 / ((1/3)^2/2 + (1/2)^2/4) = (25/36) / (17/144) = 100/17.
  // p: mpmath 2 * betainc(dof/2, 1/2, 0, dof/(dof+t^2), regularized=True) / 2.
  const WelchTest w = welch_t_test({1, 2, 3}, {4, 5, 6, 7, 8});
  ASSERT_TRUE(w.defined);
  EXPECT_DOUBLE_EQ(w.mean_difference, -4.0);
  EXPECT_NEAR(w.t, -4.3817804600413289077, 1e-13);
  EXPECT_NEAR(w.degrees_of_freedom, 100.0 / 17.0, 1e-13);
  EXPECT_NEAR(w.p_two_sided / 0.0048826349394941829559, 1.0, 1e-12);
}

TEST(ExperimentStatsWelch, EqualVariancesGiveStudentsTest) {
  // Equal sizes and variances: Welch's t is the pooled two-sample t and its dof is 2(n - 1).
  // a = {1,2,3,4}, b = {3,4,5,6}: both variance 5/3; pooled variance 5/3; difference -2;
  // t = -2 / sqrt(5/3 * (1/4 + 1/4)) = -2 / sqrt(5/6); dof 6, p = 2 F_6(t).
  const std::vector<double> a = {1, 2, 3, 4}, b = {3, 4, 5, 6};
  const WelchTest w = welch_t_test(a, b);
  const double pooled = pooled_variance({{"a", a}, {"b", b}}).variance;
  EXPECT_DOUBLE_EQ(pooled, 5.0 / 3.0);
  EXPECT_NEAR(w.t, -2.0 / std::sqrt(pooled * 0.5), 1e-14);
  EXPECT_NEAR(w.degrees_of_freedom, 6.0, 1e-13);
  EXPECT_NEAR(w.p_two_sided, 2.0 * even_dof_cdf(w.t, 6), 1e-14);
}

TEST(ExperimentStatsWelch, UndefinedCases) {
  const WelchTest one = welch_t_test({0.9}, {0.8, 0.85});
  EXPECT_FALSE(one.defined);
  EXPECT_NE(one.reason_undefined.find("at least 2 runs"), std::string::npos) << one.reason_undefined;
  EXPECT_NE(one.reason_undefined.find("a has 1"), std::string::npos) << one.reason_undefined;
  EXPECT_NEAR(one.mean_difference, 0.075, 1e-15);
  EXPECT_TRUE(std::isnan(one.t));
  EXPECT_TRUE(std::isnan(one.p_two_sided));

  const WelchTest flat = welch_t_test({0.9, 0.9}, {0.8, 0.8, 0.8});
  EXPECT_FALSE(flat.defined);
  EXPECT_NE(flat.reason_undefined.find("zero variance"), std::string::npos);
  EXPECT_TRUE(std::isnan(flat.degrees_of_freedom));

  // One flat sample is fine: the spread is all b's, and dof = n_b - 1 exactly.
  // se^2 = var_b / 3 = 1/3 for b = {1,2,3}; t = (5 - 2) / sqrt(1/3) = 3 sqrt(3); dof 2.
  const WelchTest half = welch_t_test({5, 5, 5, 5}, {1, 2, 3});
  ASSERT_TRUE(half.defined);
  EXPECT_NEAR(half.degrees_of_freedom, 2.0, 1e-14);
  EXPECT_NEAR(half.t, 3.0 * std::sqrt(3.0), 1e-13);
  const double t = half.t;
  EXPECT_NEAR(half.p_two_sided, 1.0 - t / std::sqrt(2.0 + t * t), 1e-14);
}

TEST(ExperimentStatsWelch, RejectsBadInput) {
  EXPECT_ERROR_MENTIONS(welch_t_test({}, {1, 2}), "group 'a' has no runs");
  EXPECT_ERROR_MENTIONS(welch_t_test({1, 2}, {1, kNaN}), "group 'b' run 1 is nan");
}

}  // namespace
}  // namespace ember
